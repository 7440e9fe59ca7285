// C-MOVE and C-GET: the application chooses the instances (retrieve callback), the shim runs the
// C-STORE sub-operations and reports progress with pending responses.
#include "association.hpp"

#include "dcmtk/dcmdata/dcdeftag.h"

#include <cstring>

struct loupe_retrieve_plan {
    std::string destinationAE;
    std::string host;
    uint16_t port = 0;
    std::vector<loupe::StoreItem> items;
};

extern "C" void loupe_retrieve_set_destination(loupe_retrieve_plan *plan, const char *ae_title, const char *host,
                                               uint16_t port) {
    plan->destinationAE = ae_title ? ae_title : "";
    plan->host = host ? host : "";
    plan->port = port;
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

template <typename Response>
void fillCounts(Response &rsp, const Progress &progress, bool withRemaining, unsigned remainingFlag,
                unsigned completedFlag, unsigned failedFlag, unsigned warningFlag) {
    rsp.NumberOfRemainingSubOperations = progress.remaining();
    rsp.NumberOfCompletedSubOperations = progress.completed;
    rsp.NumberOfFailedSubOperations = progress.failed;
    rsp.NumberOfWarningSubOperations = progress.warning;
    rsp.opts |= completedFlag | failedFlag | warningFlag;
    if (withRemaining) rsp.opts |= remainingFlag;
}

} // namespace

OFCondition AssociationHandler::handleMove(T_DIMSE_C_MoveRQ &request, const DcmPresentationContextInfo &context) {
    const T_ASC_PresentationContextID presID = context.presentationContextID;
    DcmDataset *identifier = nullptr;
    OFString destination;
    OFCondition cond = receiveMOVERequest(request, presID, identifier, destination);
    if (cond.bad()) return cond;
    std::vector<uint8_t> bytes;
    cond = encodeDataset(*identifier, bytes);
    delete identifier;

    loupe_retrieve_plan plan;
    loupe_outcome outcome{STATUS_Success, {0}};
    if (cond.bad()) {
        outcome.status = STATUS_MOVE_Failed_UnableToProcess;
        loupe_outcome_set_comment(&outcome, "identifier could not be re-encoded");
    } else if (classifyAbstractSyntax(context.abstractSyntax.c_str()) != ServiceKind::move) {
        outcome.status = STATUS_MOVE_Refused_SOPClassNotSupported;
    } else if (server_.handlers.retrieve) {
        loupe_query query{queryModel(context.abstractSyntax.c_str()), bytes.data(), bytes.size(), destination.c_str()};
        loupe_association a = info();
        server_.handlers.retrieve(server_.handlers.context, &a, &query, &plan, &outcome);
        if (outcome.status == STATUS_Success && plan.host.empty()) {
            outcome.status = STATUS_MOVE_Refused_MoveDestinationUnknown;
            loupe_outcome_set_comment(&outcome, ("unknown move destination " + std::string(destination.c_str())).c_str());
        }
    }

    T_DIMSE_C_MoveRSP rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.MessageIDBeingRespondedTo = request.MessageID;
    copyString(rsp.AffectedSOPClassUID, sizeof(rsp.AffectedSOPClassUID), request.AffectedSOPClassUID);
    rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    if (outcome.status != STATUS_Success) {
        rsp.DimseStatus = outcome.status;
        DcmDataset *detail = statusDetailWithComment(outcome.comment);
        cond = DIMSE_sendMoveResponse(assoc_, presID, &request, &rsp, nullptr, detail);
        delete detail;
        return cond;
    }

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
        cond = openAssociation(server_.aeTitle.c_str(), plan.destinationAE.c_str(), plan.host.c_str(), plan.port,
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
            rsp.DimseStatus = STATUS_Pending;
            rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID;
            fillCounts(rsp, progress, true, O_MOVE_NUMBEROFREMAININGSUBOPERATIONS, O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS,
                       O_MOVE_NUMBEROFFAILEDSUBOPERATIONS, O_MOVE_NUMBEROFWARNINGSUBOPERATIONS);
            cond = DIMSE_sendMoveResponse(assoc_, presID, &request, &rsp, nullptr, nullptr);
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

    rsp.DimseStatus = progress.finalStatus(cancelled);
    rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID;
    fillCounts(rsp, progress, cancelled, O_MOVE_NUMBEROFREMAININGSUBOPERATIONS, O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS,
               O_MOVE_NUMBEROFFAILEDSUBOPERATIONS, O_MOVE_NUMBEROFWARNINGSUBOPERATIONS);
    DcmDataset *failed = progress.failedList();
    DcmDataset *detail = rsp.DimseStatus == STATUS_Success ? nullptr : statusDetailWithComment(progress.lastProblem.substr(0, 64).c_str());
    rsp.DataSetType = failed ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    cond = DIMSE_sendMoveResponse(assoc_, presID, &request, &rsp, failed, detail);
    delete failed;
    delete detail;
    return cond;
}

OFCondition AssociationHandler::handleGet(T_DIMSE_C_GetRQ &request, const DcmPresentationContextInfo &context) {
    const T_ASC_PresentationContextID presID = context.presentationContextID;
    DcmDataset *identifier = nullptr;
    OFCondition cond = receiveIdentifier(presID, identifier);
    if (cond.bad()) return cond;
    std::vector<uint8_t> bytes;
    cond = encodeDataset(*identifier, bytes);
    delete identifier;

    loupe_retrieve_plan plan;
    loupe_outcome outcome{STATUS_Success, {0}};
    if (cond.bad()) {
        outcome.status = STATUS_GET_Failed_UnableToProcess;
        loupe_outcome_set_comment(&outcome, "identifier could not be re-encoded");
    } else if (classifyAbstractSyntax(context.abstractSyntax.c_str()) != ServiceKind::get) {
        outcome.status = STATUS_GET_Refused_SOPClassNotSupported;
    } else if (server_.handlers.retrieve) {
        loupe_query query{queryModel(context.abstractSyntax.c_str()), bytes.data(), bytes.size(), ""};
        loupe_association a = info();
        server_.handlers.retrieve(server_.handlers.context, &a, &query, &plan, &outcome);
    }

    T_DIMSE_C_GetRSP rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.MessageIDBeingRespondedTo = request.MessageID;
    copyString(rsp.AffectedSOPClassUID, sizeof(rsp.AffectedSOPClassUID), request.AffectedSOPClassUID);
    rsp.opts = O_GET_AFFECTEDSOPCLASSUID;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    if (outcome.status != STATUS_Success) {
        rsp.DimseStatus = outcome.status;
        DcmDataset *detail = statusDetailWithComment(outcome.comment);
        cond = DIMSE_sendGetResponse(assoc_, presID, &request, &rsp, nullptr, detail);
        delete detail;
        return cond;
    }

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
        rsp.DimseStatus = STATUS_Pending;
        rsp.opts = O_GET_AFFECTEDSOPCLASSUID;
        fillCounts(rsp, progress, true, O_GET_NUMBEROFREMAININGSUBOPERATIONS, O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS,
                   O_GET_NUMBEROFFAILEDSUBOPERATIONS, O_GET_NUMBEROFWARNINGSUBOPERATIONS);
        cond = DIMSE_sendGetResponse(assoc_, presID, &request, &rsp, nullptr, nullptr);
        if (cond.bad()) return cond;
    }

    rsp.DimseStatus = progress.finalStatus(watch.cancelled);
    rsp.opts = O_GET_AFFECTEDSOPCLASSUID;
    fillCounts(rsp, progress, watch.cancelled, O_GET_NUMBEROFREMAININGSUBOPERATIONS, O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS,
               O_GET_NUMBEROFFAILEDSUBOPERATIONS, O_GET_NUMBEROFWARNINGSUBOPERATIONS);
    DcmDataset *failed = progress.failedList();
    DcmDataset *detail = rsp.DimseStatus == STATUS_Success ? nullptr : statusDetailWithComment(progress.lastProblem.substr(0, 64).c_str());
    rsp.DataSetType = failed ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
    cond = DIMSE_sendGetResponse(assoc_, presID, &request, &rsp, failed, detail);
    delete failed;
    delete detail;
    return cond;
}

} // namespace loupe
