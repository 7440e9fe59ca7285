// The SCU services: C-ECHO, C-STORE, C-FIND, C-MOVE.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcuid.h"

#include <cstring>

using namespace loupe;

namespace {

const char *uncompressed[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};

std::vector<ProposedContext> single(const char *abstractSyntax) {
    return {{abstractSyntax, {uncompressed[0], uncompressed[1]}, ASC_SC_ROLE_DEFAULT}};
}

const char *findModel(loupe_query_model model) {
    return model == LOUPE_MODEL_PATIENT_ROOT ? UID_FINDPatientRootQueryRetrieveInformationModel
                                             : UID_FINDStudyRootQueryRetrieveInformationModel;
}

const char *moveModel(loupe_query_model model) {
    return model == LOUPE_MODEL_PATIENT_ROOT ? UID_MOVEPatientRootQueryRetrieveInformationModel
                                             : UID_MOVEStudyRootQueryRetrieveInformationModel;
}

struct Session {
    T_ASC_Network *network = nullptr;
    T_ASC_Association *assoc = nullptr;
    ~Session() { closeAssociation(&network, &assoc, false); }
};

} // namespace

extern "C" int loupe_scu_echo(const loupe_peer *peer, loupe_outcome *outcome, char *error, size_t error_size) {
    Session session;
    std::string message;
    if (openAssociation(peer->calling_ae, peer->called_ae, peer->host, peer->port, peer->tls != 0, peer->timeout_seconds,
                        single(UID_VerificationSOPClass), 0, &session.network, &session.assoc, message)
            .bad()) {
        setError(error, error_size, message);
        return -1;
    }
    DIC_US status = 0;
    DcmDataset *detail = nullptr;
    OFCondition cond = DIMSE_echoUser(session.assoc, session.assoc->nextMsgID++, DIMSE_NONBLOCKING,
                                      peer->timeout_seconds, &status, &detail);
    if (cond.bad()) {
        setError(error, error_size, std::string("C-ECHO failed: ") + cond.text());
        delete detail;
        return -1;
    }
    outcome->status = status;
    loupe_outcome_set_comment(outcome, errorComment(detail).c_str());
    delete detail;
    return 0;
}

extern "C" int loupe_scu_store(const loupe_peer *peer, loupe_store_item *items, size_t count, char *error,
                               size_t error_size) {
    std::vector<StoreItem> list;
    for (size_t i = 0; i < count; i++) {
        list.push_back({items[i].file_path, items[i].sop_class_uid, items[i].sop_instance_uid,
                        items[i].transfer_syntax_uid});
        items[i].sent = 0;
        items[i].status = 0xC000;
    }
    std::vector<std::vector<ProposedContext>> contexts;
    const auto batches = planStoreBatches(list, contexts);
    for (size_t b = 0; b < batches.size(); b++) {
        Session session;
        std::string message;
        if (openAssociation(peer->calling_ae, peer->called_ae, peer->host, peer->port, peer->tls != 0, peer->timeout_seconds,
                            contexts[b], 0, &session.network, &session.assoc, message)
                .bad()) {
            setError(error, error_size, message);
            return -1;
        }
        for (size_t index : batches[b]) {
            StoreResult result;
            OFCondition cond = sendStoredFile(session.assoc, list[index], "", 0, peer->timeout_seconds, result, nullptr);
            if (cond.bad()) {
                setError(error, error_size, std::string("C-STORE failed: ") + cond.text());
                closeAssociation(&session.network, &session.assoc, true);
                return -1;
            }
            items[index].sent = result.sent ? 1 : 0;
            items[index].status = result.sent ? result.status : 0xC000;
        }
    }
    return 0;
}

namespace {
struct FindContext {
    void (*onMatch)(void *, const uint8_t *, size_t);
    void *context;
};

void findCallback(void *data, T_DIMSE_C_FindRQ *, int, T_DIMSE_C_FindRSP *, DcmDataset *identifier) {
    auto *find = static_cast<FindContext *>(data);
    if (identifier == nullptr || find->onMatch == nullptr) return;
    std::vector<uint8_t> bytes;
    if (encodeDataset(*identifier, bytes).good()) find->onMatch(find->context, bytes.data(), bytes.size());
}
} // namespace

namespace {
/// A C-FIND or C-MOVE request's setup: the identifier decoded, an association for the model.
struct QuerySession : Session {
    DcmDataset *query = nullptr;
    T_ASC_PresentationContextID presID = 0;

    bool open(const loupe_peer *peer, const char *abstractSyntax, const uint8_t *identifier, size_t length,
              char *error, size_t error_size) {
        OFCondition cond;
        query = decodeDataset(identifier, length, cond);
        if (query == nullptr) {
            setError(error, error_size, std::string("invalid identifier: ") + cond.text());
            return false;
        }
        std::string message;
        if (openAssociation(peer->calling_ae, peer->called_ae, peer->host, peer->port, peer->tls != 0, peer->timeout_seconds,
                            single(abstractSyntax), 0, &network, &assoc, message)
                .bad()) {
            setError(error, error_size, message);
            return false;
        }
        presID = ASC_findAcceptedPresentationContextID(assoc, abstractSyntax);
        return true;
    }

    ~QuerySession() { delete query; }
};
} // namespace

extern "C" int loupe_scu_find(const loupe_peer *peer, loupe_query_model model, const uint8_t *identifier,
                              size_t length, void (*on_match)(void *, const uint8_t *, size_t), void *context,
                              loupe_outcome *outcome, char *error, size_t error_size) {
    QuerySession session;
    if (!session.open(peer, findModel(model), identifier, length, error, error_size)) return -1;
    T_DIMSE_C_FindRQ request;
    memset(&request, 0, sizeof(request));
    request.MessageID = session.assoc->nextMsgID++;
    copyString(request.AffectedSOPClassUID, sizeof(request.AffectedSOPClassUID), findModel(model));
    request.DataSetType = DIMSE_DATASET_PRESENT;
    request.Priority = DIMSE_PRIORITY_MEDIUM;
    FindContext find{on_match, context};
    int responses = 0;
    T_DIMSE_C_FindRSP response;
    DcmDataset *detail = nullptr;
    OFCondition cond = DIMSE_findUser(session.assoc, session.presID, &request, session.query, responses, findCallback,
                                      &find, DIMSE_NONBLOCKING, peer->timeout_seconds, &response, &detail);
    if (cond.bad()) {
        delete detail;
        setError(error, error_size, std::string("C-FIND failed: ") + cond.text());
        return -1;
    }
    outcome->status = response.DimseStatus;
    loupe_outcome_set_comment(outcome, errorComment(detail).c_str());
    delete detail;
    return 0;
}

extern "C" int loupe_scu_move(const loupe_peer *peer, loupe_query_model model, const uint8_t *identifier,
                              size_t length, const char *destination_ae, loupe_retrieve_counts *counts,
                              loupe_outcome *outcome, char *error, size_t error_size) {
    QuerySession session;
    if (!session.open(peer, moveModel(model), identifier, length, error, error_size)) return -1;
    T_DIMSE_C_MoveRQ request;
    memset(&request, 0, sizeof(request));
    request.MessageID = session.assoc->nextMsgID++;
    copyString(request.AffectedSOPClassUID, sizeof(request.AffectedSOPClassUID), moveModel(model));
    copyString(request.MoveDestination, sizeof(request.MoveDestination), destination_ae);
    request.DataSetType = DIMSE_DATASET_PRESENT;
    request.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_MoveRSP response;
    memset(&response, 0, sizeof(response));
    DcmDataset *detail = nullptr;
    DcmDataset *responseIdentifiers = nullptr;
    OFCondition cond = DIMSE_moveUser(session.assoc, session.presID, &request, session.query, nullptr, nullptr,
                                      DIMSE_NONBLOCKING, peer->timeout_seconds, session.network, nullptr, nullptr,
                                      &response, &detail, &responseIdentifiers, OFTrue);
    delete responseIdentifiers;
    if (cond.bad()) {
        delete detail;
        setError(error, error_size, std::string("C-MOVE failed: ") + cond.text());
        return -1;
    }
    outcome->status = response.DimseStatus;
    loupe_outcome_set_comment(outcome, errorComment(detail).c_str());
    counts->completed = response.NumberOfCompletedSubOperations;
    counts->failed = response.NumberOfFailedSubOperations;
    counts->warning = response.NumberOfWarningSubOperations;
    delete detail;
    return 0;
}
