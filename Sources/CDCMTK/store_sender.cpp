// Sending stored files with C-STORE, bit for bit when the peer accepts the stored transfer syntax.
//
// DCMTK's own sender loads the file and re-encodes the data set (dropping group lengths, changing
// sequence length encoding); Loupe instead streams the data set bytes exactly as stored.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/dul.h"

#include <cstdio>
#include <cstring>

namespace loupe {

/// Offset of the data set in a Part-10 file: after the preamble, "DICM" and the group 0002 elements.
static long datasetOffset(FILE *file) {
    unsigned char prefix[132];
    if (fread(prefix, 1, sizeof(prefix), file) != sizeof(prefix) || memcmp(prefix + 128, "DICM", 4) != 0) return -1;
    long offset = 132;
    for (;;) {
        unsigned char header[8];
        if (fseek(file, offset, SEEK_SET) != 0 || fread(header, 1, 8, file) != 8) return -1;
        const unsigned group = header[0] | header[1] << 8;
        if (group != 0x0002) return offset;
        const char vr[3] = {static_cast<char>(header[4]), static_cast<char>(header[5]), 0};
        const bool longLength = strcmp(vr, "OB") == 0 || strcmp(vr, "OW") == 0 || strcmp(vr, "OF") == 0 ||
                                strcmp(vr, "SQ") == 0 || strcmp(vr, "UT") == 0 || strcmp(vr, "UN") == 0;
        if (longLength) {
            unsigned char length[4];
            if (fread(length, 1, 4, file) != 4) return -1;
            offset += 12 + (length[0] | length[1] << 8 | length[2] << 16 | static_cast<long>(length[3]) << 24);
        } else {
            offset += 8 + (header[6] | header[7] << 8);
        }
    }
}

/// The C-STORE-RQ command set, encoded implicit VR little endian with its group length.
static OFCondition encodeStoreCommand(const StoreItem &item, DIC_US messageID, const char *moveOriginatorAE,
                                      DIC_US moveOriginatorMessageID, std::vector<uint8_t> &out) {
    DcmDataset command;
    command.putAndInsertString(DCM_AffectedSOPClassUID, item.sopClassUID.c_str());
    command.putAndInsertUint16(DCM_CommandField, 0x0001);
    command.putAndInsertUint16(DCM_MessageID, messageID);
    command.putAndInsertUint16(DCM_Priority, 0x0000);
    command.putAndInsertUint16(DCM_CommandDataSetType, 0x0000);
    command.putAndInsertString(DCM_AffectedSOPInstanceUID, item.sopInstanceUID.c_str());
    if (moveOriginatorAE != nullptr && moveOriginatorAE[0] != '\0') {
        command.putAndInsertString(DCM_MoveOriginatorApplicationEntityTitle, moveOriginatorAE);
        command.putAndInsertUint16(DCM_MoveOriginatorMessageID, moveOriginatorMessageID);
    }
    return encodeDataset(command, out, EXS_LittleEndianImplicit, EGL_recalcGL);
}

static OFCondition writePDVs(T_ASC_Association *assoc, T_ASC_PresentationContextID presID, DUL_DATAPDV type,
                             const uint8_t *data, size_t length, bool last) {
    DUL_PDV pdv;
    pdv.fragmentLength = static_cast<unsigned long>(length);
    pdv.presentationContextID = presID;
    pdv.pdvType = type;
    pdv.lastPDV = last ? OFTrue : OFFalse;
    pdv.data = const_cast<uint8_t *>(data);
    DUL_PDVLIST list;
    memset(&list, 0, sizeof(list));
    list.count = 1;
    list.pdv = &pdv;
    return DUL_WritePDVs(&assoc->DULassociation, &list);
}

/// Streams the command and the stored data set bytes in PDVs no larger than the peer accepts.
static OFCondition sendRaw(T_ASC_Association *assoc, T_ASC_PresentationContextID presID, const StoreItem &item,
                           DIC_US messageID, const char *moveOriginatorAE, DIC_US moveOriginatorMessageID,
                           std::string &problem) {
    FILE *file = fopen(item.path.c_str(), "rb");
    if (file == nullptr) {
        problem = "cannot open " + item.path;
        return EC_InvalidFilename;
    }
    const long offset = datasetOffset(file);
    if (offset < 0) {
        fclose(file);
        problem = "not a Part-10 file: " + item.path;
        return EC_InvalidStream;
    }
    const size_t maxPDV = assoc->sendPDVLength > 0 ? assoc->sendPDVLength : 16384;
    std::vector<uint8_t> chunk(maxPDV + 1);
    fseek(file, offset, SEEK_SET);
    size_t n = fread(chunk.data(), 1, maxPDV, file);
    if (n == 0) {
        fclose(file);
        problem = "empty data set in " + item.path;
        return EC_InvalidStream;
    }
    // From here on bytes go out: any failure leaves the association unusable.
    std::vector<uint8_t> command;
    OFCondition cond = encodeStoreCommand(item, messageID, moveOriginatorAE, moveOriginatorMessageID, command);
    for (size_t sent = 0; cond.good() && sent < command.size();) {
        const size_t length = std::min(maxPDV, command.size() - sent);
        cond = writePDVs(assoc, presID, DUL_COMMANDPDV, command.data() + sent, length, sent + length == command.size());
        sent += length;
    }
    size_t total = 0;
    while (cond.good() && n > 0) {
        std::vector<uint8_t> next(maxPDV + 1);
        const size_t m = fread(next.data(), 1, maxPDV, file);
        total += n;
        if (m == 0 && total % 2 == 1) {
            // PDV fragments must have even length; a deflated stream may not (DCMTK pads the same way).
            chunk.resize(std::max(chunk.size(), n + 1));
            chunk[n++] = 0;
        }
        cond = writePDVs(assoc, presID, DUL_DATASETPDV, chunk.data(), n, m == 0);
        chunk.swap(next);
        n = m;
    }
    fclose(file);
    if (cond.bad() && problem.empty()) problem = std::string("sending failed: ") + cond.text();
    return cond;
}

/// Waits for the C-STORE-RSP of `messageID`, noting a C-CANCEL that arrives meanwhile.
static OFCondition receiveStoreResponse(T_ASC_Association *assoc, DIC_US messageID, int timeoutSeconds,
                                        StoreResult &result, CancelWatch *cancel) {
    for (;;) {
        T_ASC_PresentationContextID presID = 0;
        T_DIMSE_Message response;
        DcmDataset *statusDetail = nullptr;
        OFCondition cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, timeoutSeconds, &presID, &response,
                                                &statusDetail);
        if (cond.bad()) return cond;
        if (response.CommandField == DIMSE_C_CANCEL_RQ) {
            if (cancel != nullptr && response.msg.CCancelRQ.MessageIDBeingRespondedTo == cancel->messageID) {
                cancel->cancelled = true;
            }
            delete statusDetail;
            continue;
        }
        if (response.CommandField != DIMSE_C_STORE_RSP ||
            response.msg.CStoreRSP.MessageIDBeingRespondedTo != messageID) {
            delete statusDetail;
            return makeDcmnetCondition(DIMSEC_UNEXPECTEDRESPONSE, OF_error, "expected a C-STORE response");
        }
        result.sent = true;
        result.status = response.msg.CStoreRSP.DimseStatus;
        result.comment = errorComment(statusDetail);
        delete statusDetail;
        return EC_Normal;
    }
}

OFCondition sendStoredFile(T_ASC_Association *assoc, const StoreItem &item, const char *moveOriginatorAE,
                           DIC_US moveOriginatorMessageID, int timeoutSeconds, StoreResult &result,
                           CancelWatch *cancel) {
    result = StoreResult();
    const DIC_US messageID = assoc->nextMsgID++;
    // DCMTK falls back to any accepted context of the SOP class when none has the syntax asked for:
    // check the accepted syntax before sending the stored bytes unchanged.
    T_ASC_PresentationContextID presID =
        ASC_findAcceptedPresentationContextID(assoc, item.sopClassUID.c_str(), item.transferSyntaxUID.c_str());
    T_ASC_PresentationContext accepted;
    if (presID != 0 && ASC_findAcceptedPresentationContext(assoc->params, presID, &accepted).good() &&
        item.transferSyntaxUID == accepted.acceptedTransferSyntax) {
        OFCondition cond = sendRaw(assoc, presID, item, messageID, moveOriginatorAE, moveOriginatorMessageID,
                                   result.comment);
        // A file that cannot be read fails this sub-operation only; a network error ends the association.
        if (cond.bad()) return cond == EC_InvalidFilename || cond == EC_InvalidStream ? EC_Normal : cond;
        return receiveStoreResponse(assoc, messageID, timeoutSeconds, result, cancel);
    }

    // The peer accepted another syntax for this SOP class: let DCMTK convert (decompress) the data set.
    presID = ASC_findAcceptedPresentationContextID(assoc, item.sopClassUID.c_str());
    if (presID == 0) {
        result.comment = "peer accepted no presentation context for SOP class " + item.sopClassUID;
        return EC_Normal;
    }
    T_ASC_PresentationContext pc;
    ASC_findAcceptedPresentationContext(assoc->params, presID, &pc);
    DcmFileFormat fileFormat;
    OFCondition cond = fileFormat.loadFile(item.path.c_str());
    if (cond.bad()) {
        result.comment = std::string("cannot read stored file: ") + cond.text();
        return EC_Normal;
    }
    DcmDataset *dataset = fileFormat.getDataset();
    const E_TransferSyntax target = DcmXfer(pc.acceptedTransferSyntax).getXfer();
    if (dataset->chooseRepresentation(target, nullptr).bad() || !dataset->canWriteXfer(target)) {
        result.comment = "cannot convert " + item.transferSyntaxUID + " to " + pc.acceptedTransferSyntax;
        return EC_Normal;
    }
    T_DIMSE_C_StoreRQ request;
    memset(&request, 0, sizeof(request));
    request.MessageID = messageID;
    copyString(request.AffectedSOPClassUID, sizeof(request.AffectedSOPClassUID), item.sopClassUID.c_str());
    copyString(request.AffectedSOPInstanceUID, sizeof(request.AffectedSOPInstanceUID), item.sopInstanceUID.c_str());
    request.DataSetType = DIMSE_DATASET_PRESENT;
    request.Priority = DIMSE_PRIORITY_MEDIUM;
    if (moveOriginatorAE != nullptr && moveOriginatorAE[0] != '\0') {
        copyString(request.MoveOriginatorApplicationEntityTitle, sizeof(request.MoveOriginatorApplicationEntityTitle),
                   moveOriginatorAE);
        request.MoveOriginatorID = moveOriginatorMessageID;
        request.opts = O_STORE_MOVEORIGINATORAETITLE | O_STORE_MOVEORIGINATORID;
    }
    T_DIMSE_C_StoreRSP response;
    DcmDataset *statusDetail = nullptr;
    T_DIMSE_DetectedCancelParameters cancelParameters;
    memset(&cancelParameters, 0, sizeof(cancelParameters));
    cond = DIMSE_storeUser(assoc, presID, &request, nullptr, dataset, nullptr, nullptr, DIMSE_NONBLOCKING,
                           timeoutSeconds, &response, &statusDetail, &cancelParameters);
    if (cancel != nullptr && cancelParameters.cancelEncountered &&
        cancelParameters.req.MessageIDBeingRespondedTo == cancel->messageID) {
        cancel->cancelled = true;
    }
    if (cond.bad()) {
        delete statusDetail;
        return cond;
    }
    result.sent = true;
    result.status = response.DimseStatus;
    result.comment = errorComment(statusDetail);
    delete statusDetail;
    return EC_Normal;
}

} // namespace loupe
