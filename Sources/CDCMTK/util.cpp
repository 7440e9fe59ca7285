// Small helpers: strings, data set encoding, status details.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcwcache.h"

#include <cstring>

namespace loupe {

void copyString(char *destination, size_t size, const char *source) {
    if (destination == nullptr || size == 0) return;
    if (source == nullptr) source = "";
    size_t n = strlen(source);
    if (n >= size) n = size - 1;
    memcpy(destination, source, n);
    destination[n] = '\0';
}

void setError(char *error, size_t size, const std::string &message) {
    copyString(error, size, message.c_str());
}

OFCondition encodeDataset(DcmDataset &dataset, std::vector<uint8_t> &out, E_TransferSyntax xfer,
                          E_GrpLenEncoding groupLength) {
    if (groupLength == EGL_recalcGL) {
        dataset.computeGroupLengthAndPadding(EGL_recalcGL, EPD_noChange, xfer, EET_ExplicitLength);
    }
    out.resize(dataset.calcElementLength(xfer, EET_ExplicitLength) + 64);
    DcmOutputBufferStream stream(out.data(), out.size());
    dataset.transferInit();
    OFCondition cond = dataset.write(stream, xfer, EET_ExplicitLength, nullptr, groupLength);
    dataset.transferEnd();
    if (cond.bad()) return cond;
    void *buffer = nullptr;
    offile_off_t written = 0;
    stream.flushBuffer(buffer, written);
    out.resize(static_cast<size_t>(written));
    return EC_Normal;
}

DcmDataset *decodeDataset(const uint8_t *bytes, size_t length, OFCondition &condition) {
    DcmDataset *dataset = new DcmDataset();
    if (length == 0) {
        condition = EC_Normal;
        return dataset;
    }
    DcmInputBufferStream stream;
    stream.setBuffer(bytes, static_cast<offile_off_t>(length));
    stream.setEos();
    dataset->transferInit();
    condition = dataset->read(stream, EXS_LittleEndianExplicit);
    dataset->transferEnd();
    if (condition.bad()) {
        delete dataset;
        return nullptr;
    }
    return dataset;
}

DcmDataset *statusDetailWithComment(const char *comment) {
    if (comment == nullptr || comment[0] == '\0') return nullptr;
    DcmDataset *detail = new DcmDataset();
    detail->putAndInsertString(DCM_ErrorComment, comment);
    return detail;
}

std::string errorComment(DcmDataset *statusDetail) {
    if (statusDetail == nullptr) return "";
    OFString text;
    if (statusDetail->findAndGetOFString(DCM_ErrorComment, text).good()) return text.c_str();
    return "";
}

ServiceKind classifyAbstractSyntax(const char *uid) {
    if (strcmp(uid, UID_VerificationSOPClass) == 0) return ServiceKind::verification;
    if (strcmp(uid, UID_FINDPatientRootQueryRetrieveInformationModel) == 0 ||
        strcmp(uid, UID_FINDStudyRootQueryRetrieveInformationModel) == 0)
        return ServiceKind::find;
    if (strcmp(uid, UID_MOVEPatientRootQueryRetrieveInformationModel) == 0 ||
        strcmp(uid, UID_MOVEStudyRootQueryRetrieveInformationModel) == 0)
        return ServiceKind::move;
    if (strcmp(uid, UID_GETPatientRootQueryRetrieveInformationModel) == 0 ||
        strcmp(uid, UID_GETStudyRootQueryRetrieveInformationModel) == 0)
        return ServiceKind::get;
    if (dcmIsaStorageSOPClassUID(uid, ESSC_All)) return ServiceKind::storage;
    return ServiceKind::unsupported;
}

loupe_query_model queryModel(const char *abstractSyntax) {
    if (strcmp(abstractSyntax, UID_FINDPatientRootQueryRetrieveInformationModel) == 0 ||
        strcmp(abstractSyntax, UID_MOVEPatientRootQueryRetrieveInformationModel) == 0 ||
        strcmp(abstractSyntax, UID_GETPatientRootQueryRetrieveInformationModel) == 0)
        return LOUPE_MODEL_PATIENT_ROOT;
    return LOUPE_MODEL_STUDY_ROOT;
}

} // namespace loupe

extern "C" void loupe_outcome_set_comment(loupe_outcome *outcome, const char *comment) {
    if (outcome != nullptr) loupe::copyString(outcome->comment, sizeof(outcome->comment), comment);
}
