// C-MOVE and C-GET: the application chooses the instances (retrieve callback), the shim runs the
// C-STORE sub-operations and reports progress with pending responses.
#include "association.hpp"

#include "dcmtk/dcmdata/dcdeftag.h"

#include <chrono>
#include <cstring>
#include <functional>

struct loupe_retrieve_plan {
    std::string destinationAE;
    std::string host;
    uint16_t port = 0;
    bool tls = false;
    std::vector<loupe::StoreItem> items;
};

extern "C" void loupe_retrieve_set_destination(loupe_retrieve_plan *plan, const char *ae_title, const char *host,
                                               uint16_t port, int tls) {
    plan->destinationAE = ae_title ? ae_title : "";
    plan->host = host ? host : "";
    plan->port = port;
    plan->tls = tls != 0;
}

extern "C" void loupe_retrieve_add(loupe_retrieve_plan *plan, const char *file_path, const char *sop_class_uid,
                                   const char *sop_instance_uid, const char *transfer_syntax_uid) {
    plan->items.push_back({file_path, sop_class_uid, sop_instance_uid, transfer_syntax_uid});
}

namespace loupe {

namespace {

/// Sub-operation bookkeeping shared by C-MOVE and C-GET.
struct Progress {
    Uint16 total = 0, completed = 0, failed = 0, warning = 0;
    std::vector<std::string> failedUIDs;
    std::string lastProblem;

    Uint16 remaining() const { return static_cast<Uint16>(total - completed - failed - warning); }

    void record(const StoreItem &item, const StoreResult &result) {
        if (result.sent && result.status == STATUS_Success) {
            completed++;
        } else if (result.sent && ((result.status & 0xF000) == 0xB000 || result.status == 0x0107 ||
                                   result.status == 0x0116 || result.status == 0x0001)) {
            warning++;
        } else {
            failed++;
            failedUIDs.push_back(item.sopInstanceUID);
            if (!result.comment.empty()) lastProblem = result.comment;
        }
    }

    void failRemaining(const std::vector<StoreItem> &items, size_t from, const std::string &why) {
        for (size_t i = from; i < items.size(); i++) {
            failed++;
            failedUIDs.push_back(items[i].sopInstanceUID);
        }
        lastProblem = why;
    }

    /// Final status (PS3.4 C.4.2.1.5): warning when any sub-operation failed or warned; refused
    /// (out of resources) when nothing could be sent at all.
    Uint16 finalStatus(bool cancelled) const {
        if (cancelled) return STATUS_MOVE_Cancel_SubOperationsTerminatedDueToCancelIndication;
        if (failed > 0 && completed == 0 && warning == 0) return STATUS_MOVE_Refused_OutOfResourcesSubOperations;
        if (failed > 0 || warning > 0) return STATUS_MOVE_Warning_SubOperationsCompleteOneOrMoreFailures;
        return STATUS_Success;
    }

    /// The final response identifier: Failed SOP Instance UID List when something failed.
    DcmDataset *failedList() const {
        if (failedUIDs.empty()) return nullptr;
        std::string joined;
        for (const std::string &uid : failedUIDs) {
            if (!joined.empty()) joined += "\\";
            joined += uid;
        }
        DcmDataset *identifier = new DcmDataset();
        identifier->putAndInsertString(DCM_FailedSOPInstanceUIDList, joined.c_str());
        return identifier;
    }
};

/// The responses of one C-MOVE or C-GET: the same fields, options and rules for both services.
template <typename Request, typename Response>
struct RetrieveResponder {
    using Send = OFCondition (*)(T_ASC_Association *, T_ASC_PresentationContextID, const Request *, Response *,
                                 DcmDataset *, DcmDataset *);
    struct Flags {
        unsigned affected, remaining, completed, failed, warning;
    };

    T_ASC_Association *assoc;
    T_ASC_PresentationContextID presID;
    const Request &request;
    Send send;
    Flags flags;
    Response rsp;
    /// Told the final status once it is sent (a refusal or the end of the sub-operations).
    std::function<void(Uint16)> answered;

    RetrieveResponder(T_ASC_Association *assoc, T_ASC_PresentationContextID presID, const Request &request, Send send,
                      Flags flags)
        : assoc(assoc), presID(presID), request(request), send(send), flags(flags) {
        memset(&rsp, 0, sizeof(rsp));
        rsp.MessageIDBeingRespondedTo = request.MessageID;
        copyString(rsp.AffectedSOPClassUID, sizeof(rsp.AffectedSOPClassUID), request.AffectedSOPClassUID);
    }

    /// A refusal before any sub-operation (unknown destination, bad identifier, ...).
    OFCondition refuse(const loupe_outcome &outcome) {
        rsp.DimseStatus = outcome.status;
        rsp.opts = flags.affected;
        rsp.DataSetType = DIMSE_DATASET_NULL;
        DcmDataset *detail = statusDetailWithComment(outcome.comment);
        OFCondition cond = send(assoc, presID, &request, &rsp, nullptr, detail);
        delete detail;
        if (answered) answered(rsp.DimseStatus);
        return cond;
    }

    OFCondition pending(const Progress &progress) {
        rsp.DimseStatus = STATUS_Pending;
        setCounts(progress, true);
        rsp.DataSetType = DIMSE_DATASET_NULL;
        return send(assoc, presID, &request, &rsp, nullptr, nullptr);
    }

    /// The final response: counts, the failed UIDs, the last problem as Error Comment.
    OFCondition finish(const Progress &progress, bool cancelled) {
        rsp.DimseStatus = progress.finalStatus(cancelled);
        setCounts(progress, cancelled);
        DcmDataset *failed = progress.failedList();
        DcmDataset *detail = rsp.DimseStatus == STATUS_Success
                                 ? nullptr
                                 : statusDetailWithComment(progress.lastProblem.substr(0, 64).c_str());
        rsp.DataSetType = failed ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
        OFCondition cond = send(assoc, presID, &request, &rsp, failed, detail);
        delete failed;
        delete detail;
        if (answered) answered(rsp.DimseStatus);
        return cond;
    }

private:
    void setCounts(const Progress &progress, bool withRemaining) {
        rsp.NumberOfRemainingSubOperations = progress.remaining();
        rsp.NumberOfCompletedSubOperations = progress.completed;
        rsp.NumberOfFailedSubOperations = progress.failed;
        rsp.NumberOfWarningSubOperations = progress.warning;
        rsp.opts = flags.affected | flags.completed | flags.failed | flags.warning;
        if (withRemaining) rsp.opts |= flags.remaining;
    }
};

using MoveResponder = RetrieveResponder<T_DIMSE_C_MoveRQ, T_DIMSE_C_MoveRSP>;
using GetResponder = RetrieveResponder<T_DIMSE_C_GetRQ, T_DIMSE_C_GetRSP>;

} // namespace

void AssociationHandler::planRetrieve(const DcmPresentationContextInfo &context, ServiceKind kind,
                                      DcmDataset *identifier, const char *destination, loupe_retrieve_plan &plan,
                                      loupe_outcome &outcome) {
    std::vector<uint8_t> bytes;
    if (encodeDataset(*identifier, bytes).bad()) {
        outcome.status = STATUS_MOVE_Failed_UnableToProcess;
        loupe_outcome_set_comment(&outcome, "identifier could not be re-encoded");
    } else if (classifyAbstractSyntax(context.abstractSyntax.c_str()) != kind) {
        outcome.status = STATUS_MOVE_Refused_SOPClassNotSupported;
    } else if (server_.handlers.retrieve) {
        loupe_query query{queryModel(context.abstractSyntax.c_str()), bytes.data(), bytes.size(), destination};
        loupe_association a = info();
        server_.handlers.retrieve(server_.handlers.context, &a, &query, &plan, &outcome);
    }
}

void AssociationHandler::reportRetrieved(int move, Uint16 status, std::chrono::steady_clock::time_point started) {
    if (!server_.handlers.retrieved) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    loupe_association a = info();
    server_.handlers.retrieved(server_.handlers.context, &a, move, status, seconds);
}

OFCondition AssociationHandler::handleMove(T_DIMSE_C_MoveRQ &request, const DcmPresentationContextInfo &context) {
    const T_ASC_PresentationContextID presID = context.presentationContextID;
    const auto started = std::chrono::steady_clock::now();
    DcmDataset *identifier = nullptr;
    OFString destination;
    OFCondition cond = receiveMOVERequest(request, presID, identifier, destination);
    if (cond.bad()) return cond;
    loupe_retrieve_plan plan;
    loupe_outcome outcome{STATUS_Success, {0}};
    planRetrieve(context, ServiceKind::move, identifier, destination.c_str(), plan, outcome);
    delete identifier;
    if (outcome.status == STATUS_Success && plan.host.empty()) {
        outcome.status = STATUS_MOVE_Refused_MoveDestinationUnknown;
        loupe_outcome_set_comment(&outcome, ("unknown move destination " + std::string(destination.c_str())).c_str());
    }
    MoveResponder responder(assoc_, presID, request, DIMSE_sendMoveResponse,
                            {O_MOVE_AFFECTEDSOPCLASSUID, O_MOVE_NUMBEROFREMAININGSUBOPERATIONS,
                             O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS, O_MOVE_NUMBEROFFAILEDSUBOPERATIONS,
                             O_MOVE_NUMBEROFWARNINGSUBOPERATIONS});
    responder.answered = [this, started](Uint16 status) { reportRetrieved(1, status, started); };
    if (outcome.status != STATUS_Success) return responder.refuse(outcome);

    Progress progress;
    progress.total = static_cast<Uint16>(std::min<size_t>(plan.items.size(), 0xFFFF));
    bool cancelled = false;
    std::vector<std::vector<ProposedContext>> contexts;
    const auto batches = planStoreBatches(plan.items, contexts);
    size_t processed = 0;
    for (size_t b = 0; b < batches.size() && !cancelled; b++) {
        T_ASC_Network *network = nullptr;
        T_ASC_Association *sub = nullptr;
        std::string problem;
        cond = openAssociation(server_.aeTitle.c_str(), plan.destinationAE.c_str(), plan.host.c_str(), plan.port, plan.tls,
                               server_.acseTimeout, contexts[b], server_.maxPDU, &network, &sub, problem);
        if (cond.bad()) {
            std::vector<StoreItem> rest(plan.items.begin() + processed, plan.items.end());
            progress.failRemaining(rest, 0, problem);
            processed = plan.items.size();
            break;
        }
        bool broken = false;
        for (size_t index : batches[b]) {
            if (checkForCANCEL(presID, request.MessageID).good() || server_.hardStop.load()) {
                cancelled = true;
                break;
            }
            StoreResult result;
            OFCondition sent = sendStoredFile(sub, plan.items[index], callingAE_.c_str(), request.MessageID,
                                              server_.dimseTimeout, result, nullptr);
            if (sent.bad()) {
                result.comment = std::string("lost the association to ") + plan.destinationAE + ": " + sent.text();
                broken = true;
            }
            progress.record(plan.items[index], result);
            processed++;
            if (broken) break;
            cond = responder.pending(progress);
            if (cond.bad()) {
                closeAssociation(&network, &sub, true);
                return cond;
            }
        }
        closeAssociation(&network, &sub, broken);
        if (broken) {
            std::vector<StoreItem> rest(plan.items.begin() + processed, plan.items.end());
            progress.failRemaining(rest, 0, progress.lastProblem);
            processed = plan.items.size();
        }
    }
    return responder.finish(progress, cancelled);
}

OFCondition AssociationHandler::handleGet(T_DIMSE_C_GetRQ &request, const DcmPresentationContextInfo &context) {
    const T_ASC_PresentationContextID presID = context.presentationContextID;
    const auto started = std::chrono::steady_clock::now();
    DcmDataset *identifier = nullptr;
    OFCondition cond = receiveIdentifier(presID, identifier);
    if (cond.bad()) return cond;
    loupe_retrieve_plan plan;
    loupe_outcome outcome{STATUS_Success, {0}};
    planRetrieve(context, ServiceKind::get, identifier, "", plan, outcome);
    delete identifier;
    GetResponder responder(assoc_, presID, request, DIMSE_sendGetResponse,
                           {O_GET_AFFECTEDSOPCLASSUID, O_GET_NUMBEROFREMAININGSUBOPERATIONS,
                            O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS, O_GET_NUMBEROFFAILEDSUBOPERATIONS,
                            O_GET_NUMBEROFWARNINGSUBOPERATIONS});
    responder.answered = [this, started](Uint16 status) { reportRetrieved(0, status, started); };
    if (outcome.status != STATUS_Success) return responder.refuse(outcome);

    Progress progress;
    progress.total = static_cast<Uint16>(std::min<size_t>(plan.items.size(), 0xFFFF));
    CancelWatch watch{presID, request.MessageID, false};
    for (size_t i = 0; i < plan.items.size(); i++) {
        if (watch.cancelled || checkForCANCEL(presID, request.MessageID).good() || server_.hardStop.load()) {
            watch.cancelled = true;
            break;
        }
        StoreResult result;
        // Sub-operations go back over this association, on the storage contexts the requester
        // proposed in the SCP role.
        cond = sendStoredFile(assoc_, plan.items[i], "", 0, server_.dimseTimeout, result, &watch);
        if (cond.bad()) return cond;
        progress.record(plan.items[i], result);
        cond = responder.pending(progress);
        if (cond.bad()) return cond;
    }
    return responder.finish(progress, watch.cancelled);
}

} // namespace loupe
