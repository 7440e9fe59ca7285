// One incoming association, handled on its own thread.
#pragma once

#include "server.hpp"

#include "dcmtk/dcmnet/scpthrd.h"

#include <chrono>

namespace loupe {

class AssociationHandler : public DcmThreadSCP {
public:
    AssociationHandler(loupe_scp &server, uint64_t id);
    OFCondition run(T_ASC_Association *incoming) override;

    /// Used by loupe_find_respond.
    OFCondition sendFindPending(T_ASC_PresentationContextID presID, const T_DIMSE_C_FindRQ &request, DcmDataset *match);
    bool cancelRequested(T_ASC_PresentationContextID presID, DIC_US messageID);

protected:
    void notifyAssociationRequest(const T_ASC_Parameters &params, DcmSCPActionType &desiredAction) override;
    OFBool checkCalledAETitleAccepted(const OFString &calledAE) override;
    OFBool checkCallingAETitleAccepted(const OFString &callingAE) override;
    OFBool checkCallingHostAccepted(const OFString &hostOrIP) override;
    OFCondition negotiateAssociation() override;
    void handleAssociation() override;
    OFCondition handleIncomingCommand(T_DIMSE_Message *message, const DcmPresentationContextInfo &info) override;

private:
    OFCondition handleStore(T_DIMSE_C_StoreRQ &request, T_ASC_PresentationContextID presID);
    OFCondition handleFind(T_DIMSE_C_FindRQ &request, const DcmPresentationContextInfo &info);
    OFCondition handleMove(T_DIMSE_C_MoveRQ &request, const DcmPresentationContextInfo &info);
    OFCondition handleGet(T_DIMSE_C_GetRQ &request, const DcmPresentationContextInfo &info);
    /// Tells the application a C-MOVE or C-GET has its final answer (status, time since the request).
    void reportRetrieved(int move, Uint16 status, std::chrono::steady_clock::time_point started);
    OFCondition receiveIdentifier(T_ASC_PresentationContextID presID, DcmDataset *&identifier);
    /// Asks the application which instances a C-MOVE/C-GET identifier selects.
    void planRetrieve(const DcmPresentationContextInfo &context, ServiceKind kind, DcmDataset *identifier,
                      const char *destination, loupe_retrieve_plan &plan, loupe_outcome &outcome);
    loupe_association info() const;

    loupe_scp &server_;
    uint64_t id_;
    T_ASC_Association *assoc_ = nullptr;
    std::string callingAE_, calledAE_, peerHost_;
    /// The peer certificate's subject and common name (TLS with a client certificate only).
    std::string peerSubject_, peerCommonName_;
    loupe_association_decision decision_ = LOUPE_ASSOCIATION_ACCEPT;
    std::string endReason_ = "released";
    unsigned long storeCounter_ = 0;
};

} // namespace loupe
