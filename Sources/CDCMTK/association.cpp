// One incoming association: policy, negotiation, the command loop, C-ECHO, C-STORE and C-FIND.
// C-MOVE and C-GET are in retrieve.cpp.
#include "association.hpp"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmnet/dulstruc.h"

#include <sys/socket.h>
#include <unistd.h>

struct loupe_find_responder {
    loupe::AssociationHandler *handler;
    T_ASC_PresentationContextID presID;
    const T_DIMSE_C_FindRQ *request;
    bool cancelled = false;
    OFCondition failure = EC_Normal;
    size_t sent = 0;
};

namespace loupe {

AssociationHandler::AssociationHandler(loupe_scp &server, uint64_t id) : server_(server), id_(id) {
    DcmSCPConfig &config = getConfig();
    config.setAETitle(server.aeTitle.c_str());
    config.setRespondWithCalledAETitle(OFFalse);
    config.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    config.setDIMSETimeout(static_cast<Uint32>(server.dimseTimeout));
    config.setACSETimeout(static_cast<Uint32>(server.acseTimeout));
    config.setMaxReceivePDULength(server.maxPDU);
}

OFCondition AssociationHandler::run(T_ASC_Association *incoming) {
    assoc_ = incoming;
    const DUL_ASSOCIATESERVICEPARAMETERS &dul = incoming->params->DULparams;
    callingAE_ = OFString(dul.callingAPTitle).c_str();
    calledAE_ = OFString(dul.calledAPTitle).c_str();
    peerHost_ = dul.callingPresentationAddress;
    if (server_.tls()) peerCertificateNames(incoming, peerSubject_, peerCommonName_);
    OFCondition result = DcmThreadSCP::run(incoming);
    if (server_.handlers.ended) {
        loupe_association a = info();
        server_.handlers.ended(server_.handlers.context, &a, endReason_.c_str());
    }
    return result;
}

loupe_association AssociationHandler::info() const {
    return loupe_association{id_, callingAE_.c_str(), calledAE_.c_str(), peerHost_.c_str(), server_.tls() ? 1 : 0,
                             peerSubject_.c_str(), peerCommonName_.c_str()};
}

// ---- policy and negotiation -------------------------------------------------------------------

void AssociationHandler::notifyAssociationRequest(const T_ASC_Parameters &, DcmSCPActionType &) {
    if (server_.handlers.associate) {
        loupe_association a = info();
        decision_ = server_.handlers.associate(server_.handlers.context, &a);
    }
    switch (decision_) {
    case LOUPE_REJECT_CALLED_AE_NOT_RECOGNIZED: endReason_ = "rejected: called AE title not recognized"; break;
    case LOUPE_REJECT_CALLING_AE_NOT_RECOGNIZED: endReason_ = "rejected: calling AE title not recognized"; break;
    case LOUPE_REJECT_NO_REASON: endReason_ = "rejected: calling host not allowed"; break;
    default: break;
    }
}

OFBool AssociationHandler::checkCallingHostAccepted(const OFString &) {
    return decision_ != LOUPE_REJECT_NO_REASON;
}

OFBool AssociationHandler::checkCalledAETitleAccepted(const OFString &) {
    return decision_ != LOUPE_REJECT_CALLED_AE_NOT_RECOGNIZED;
}

OFBool AssociationHandler::checkCallingAETitleAccepted(const OFString &) {
    return decision_ != LOUPE_REJECT_CALLING_AE_NOT_RECOGNIZED;
}

OFCondition AssociationHandler::negotiateAssociation() {
    negotiatePresentationContexts(assoc_->params);
    if (ASC_countAcceptedPresentationContexts(assoc_->params) == 0) {
        endReason_ = "rejected: no acceptable presentation contexts";
    }
    return EC_Normal;
}

// ---- command loop -------------------------------------------------------------------------------

/// Exposes DcmTransportConnection::getSocket (protected) through a pointer to member, never an instance.
struct SocketAccess : DcmTransportConnection {
    using DcmTransportConnection::getSocket;
};

/// Sends A-ABORT without waiting for the peer. DCMTK's abort waits (ARTIM, 30 s) for the peer to
/// close; shutting the read side first makes that wait end at once, so a stopping node never
/// waits on a peer that keeps its socket open. Shutdown, not close: the descriptor stays DCMTK's.
static void abortAndDisconnect(T_ASC_Association *assoc) {
    auto *key = reinterpret_cast<PRIVATE_ASSOCIATIONKEY *>(assoc->DULassociation);
    DcmNativeSocketType socket = -1;
    if (key != nullptr && key->connection != nullptr) {
        DcmNativeSocketType (DcmTransportConnection::*socketOf)() = &SocketAccess::getSocket;
        socket = (key->connection->*socketOf)();
    }
    if (socket >= 0) shutdown(socket, SHUT_RD);
    ASC_abortAssociation(assoc);
    if (socket >= 0) shutdown(socket, SHUT_RDWR);
}

void AssociationHandler::handleAssociation() {
    int idleSeconds = 0;
    for (;;) {
        T_ASC_PresentationContextID presID = 0;
        T_DIMSE_Message message;
        // Poll once a second so a stopping node and idle peers are noticed.
        OFCondition cond = DIMSE_receiveCommand(assoc_, DIMSE_NONBLOCKING, 1, &presID, &message, nullptr);
        if (cond == DIMSE_NODATAAVAILABLE) {
            if (server_.stopping.load()) {
                endReason_ = "aborted: node is shutting down";
                abortAndDisconnect(assoc_);
                return;
            }
            if (++idleSeconds >= server_.dimseTimeout) {
                endReason_ = "aborted: idle for " + std::to_string(idleSeconds) + " s";
                abortAndDisconnect(assoc_);
                return;
            }
            continue;
        }
        idleSeconds = 0;
        if (cond == DUL_PEERREQUESTEDRELEASE) {
            endReason_ = "released";
            ASC_acknowledgeRelease(assoc_);
            return;
        }
        if (cond == DUL_PEERABORTEDASSOCIATION) {
            endReason_ = "aborted by peer";
            return;
        }
        if (cond.bad()) {
            endReason_ = std::string("aborted: ") + cond.text();
            abortAndDisconnect(assoc_);
            return;
        }
        DcmPresentationContextInfo context;
        getPresentationContextInfo(assoc_, presID, context);
        cond = handleIncomingCommand(&message, context);
        if (cond.bad()) {
            endReason_ = std::string("aborted: ") + cond.text();
            abortAndDisconnect(assoc_);
            return;
        }
    }
}

OFCondition AssociationHandler::handleIncomingCommand(T_DIMSE_Message *message, const DcmPresentationContextInfo &context) {
    switch (message->CommandField) {
    case DIMSE_C_ECHO_RQ: {
        loupe_association a = info();
        const Uint16 status = server_.handlers.echo ? server_.handlers.echo(server_.handlers.context, &a) : STATUS_Success;
        return DIMSE_sendEchoResponse(assoc_, context.presentationContextID, &message->msg.CEchoRQ, status, nullptr);
    }
    case DIMSE_C_STORE_RQ:
        return handleStore(message->msg.CStoreRQ, context.presentationContextID);
    case DIMSE_C_FIND_RQ:
        return handleFind(message->msg.CFindRQ, context);
    case DIMSE_C_MOVE_RQ:
        return handleMove(message->msg.CMoveRQ, context);
    case DIMSE_C_GET_RQ:
        return handleGet(message->msg.CGetRQ, context);
    case DIMSE_C_CANCEL_RQ:
        return EC_Normal;  // a cancel that arrived after its operation finished
    default:
        return DIMSE_BADCOMMANDTYPE;
    }
}

// ---- C-STORE ----------------------------------------------------------------------------------

OFCondition AssociationHandler::handleStore(T_DIMSE_C_StoreRQ &request, T_ASC_PresentationContextID presID) {
    OFString abstractSyntax, transferSyntax;
    findPresentationContext(presID, abstractSyntax, transferSyntax);
    const std::string path = server_.stagingPrefix + std::to_string(id_) + "-" + std::to_string(++storeCounter_) + ".part";
    // Received straight into a Part-10 file: the data set bytes exactly as they came off the wire.
    OFCondition cond = receiveSTORERequest(request, presID, path.c_str());
    if (cond.bad()) {
        unlink(path.c_str());
        return cond;
    }
    loupe_outcome outcome{STATUS_Success, {0}};
    if (classifyAbstractSyntax(abstractSyntax.c_str()) != ServiceKind::storage) {
        outcome.status = 0x0122;  // SOP class not supported on this presentation context
        loupe_outcome_set_comment(&outcome, "C-STORE on a presentation context that is not a storage SOP class");
    } else if (server_.handlers.store) {
        const std::string moveOriginator = (request.opts & O_STORE_MOVEORIGINATORAETITLE)
                                               ? request.MoveOriginatorApplicationEntityTitle : "";
        loupe_store_request r{request.AffectedSOPClassUID, request.AffectedSOPInstanceUID, transferSyntax.c_str(),
                              path.c_str(), moveOriginator.c_str()};
        loupe_association a = info();
        server_.handlers.store(server_.handlers.context, &a, &r, &outcome);
    }
    unlink(path.c_str());  // whatever the application did not take
    DcmDataset *detail = outcome.status == STATUS_Success ? nullptr : statusDetailWithComment(outcome.comment);
    cond = sendSTOREResponse(presID, request.MessageID, request.AffectedSOPClassUID, request.AffectedSOPInstanceUID,
                             outcome.status, detail);
    delete detail;
    return cond;
}

// ---- C-FIND -----------------------------------------------------------------------------------

OFCondition AssociationHandler::handleFind(T_DIMSE_C_FindRQ &request, const DcmPresentationContextInfo &context) {
    const T_ASC_PresentationContextID presID = context.presentationContextID;
    DcmDataset *identifier = nullptr;
    OFCondition cond = receiveFINDRequest(request, presID, identifier);
    if (cond.bad()) return cond;
    std::vector<uint8_t> bytes;
    cond = encodeDataset(*identifier, bytes);
    delete identifier;
    loupe_outcome outcome{STATUS_Success, {0}};
    loupe_find_responder responder{this, presID, &request};
    if (cond.bad()) {
        outcome.status = 0xC000;
        loupe_outcome_set_comment(&outcome, "identifier could not be re-encoded");
    } else if (classifyAbstractSyntax(context.abstractSyntax.c_str()) != ServiceKind::find) {
        outcome.status = 0x0122;
        loupe_outcome_set_comment(&outcome, "C-FIND on a presentation context that is not a FIND model");
    } else if (server_.handlers.find) {
        loupe_query query{queryModel(context.abstractSyntax.c_str()), bytes.data(), bytes.size(), ""};
        loupe_association a = info();
        server_.handlers.find(server_.handlers.context, &a, &query, &responder, &outcome);
    }
    if (responder.failure.bad()) return responder.failure;
    const Uint16 status = responder.cancelled ? STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest : outcome.status;
    DcmDataset *detail = status == STATUS_Success ? nullptr : statusDetailWithComment(outcome.comment);
    cond = sendFINDResponse(presID, request.MessageID, request.AffectedSOPClassUID, nullptr, status, detail);
    delete detail;
    return cond;
}

OFCondition AssociationHandler::sendFindPending(T_ASC_PresentationContextID presID, const T_DIMSE_C_FindRQ &request,
                                                DcmDataset *match) {
    return sendFINDResponse(presID, request.MessageID, request.AffectedSOPClassUID, match, STATUS_Pending, nullptr);
}

bool AssociationHandler::cancelRequested(T_ASC_PresentationContextID presID, DIC_US messageID) {
    return checkForCANCEL(presID, messageID).good();
}

OFCondition AssociationHandler::receiveIdentifier(T_ASC_PresentationContextID presID, DcmDataset *&identifier) {
    T_ASC_PresentationContextID dataPresID = presID;
    identifier = nullptr;
    OFCondition cond = receiveDIMSEDataset(&dataPresID, &identifier);
    if (cond.good() && dataPresID != presID) {
        delete identifier;
        identifier = nullptr;
        return DIMSE_BADDATA;
    }
    return cond;
}

} // namespace loupe

extern "C" int loupe_find_respond(loupe_find_responder *responder, const uint8_t *identifier, size_t length) {
    if (responder == nullptr || responder->cancelled || responder->failure.bad()) return 0;
    if (responder->handler->cancelRequested(responder->presID, responder->request->MessageID)) {
        responder->cancelled = true;
        return 0;
    }
    OFCondition cond;
    DcmDataset *match = loupe::decodeDataset(identifier, length, cond);
    if (match == nullptr) {
        responder->failure = cond;
        return 0;
    }
    cond = responder->handler->sendFindPending(responder->presID, *responder->request, match);
    delete match;
    if (cond.bad()) {
        responder->failure = cond;
        return 0;
    }
    responder->sent++;
    return 1;
}
