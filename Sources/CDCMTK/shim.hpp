// Internal C++ declarations shared by the shim's translation units. Never included from Swift.
#pragma once

#include "dcmtk/config/osconfig.h" /* must come first */
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmdata/dcdatset.h"

#include <atomic>
#include <string>
#include <vector>

#include "loupe_dcmtk.h"

namespace loupe {

/// Registers the JPEG 2000 decoder (OpenJPEG) with DCMTK's codec list; once, at initialisation.
void registerJPEG2000Decoder();

/// Copies a C string into a fixed buffer, always NUL-terminated.
void copyString(char *destination, size_t size, const char *source);

/// Writes a message into a caller's error buffer (if any).
void setError(char *error, size_t size, const std::string &message);

/// Encodes a data set (explicit VR little endian unless told otherwise; `EGL_recalcGL` adds group lengths).
OFCondition encodeDataset(DcmDataset &dataset, std::vector<uint8_t> &out, E_TransferSyntax xfer = EXS_LittleEndianExplicit,
                          E_GrpLenEncoding groupLength = EGL_withoutGL);

/// Decodes explicit VR little endian bytes into a new data set (caller owns it).
DcmDataset *decodeDataset(const uint8_t *bytes, size_t length, OFCondition &condition);

/// A status detail data set carrying Error Comment (0000,0902), or NULL when the comment is empty.
DcmDataset *statusDetailWithComment(const char *comment);

/// Reads Error Comment from a status detail data set.
std::string errorComment(DcmDataset *statusDetail);

/// What an association acceptor does with a proposed abstract syntax.
enum class ServiceKind { unsupported, verification, storage, find, move, get };
ServiceKind classifyAbstractSyntax(const char *uid);

/// Query/retrieve model of a FIND/MOVE/GET abstract syntax.
loupe_query_model queryModel(const char *abstractSyntax);

/// Accepts or refuses each proposed presentation context (see negotiation.cpp for the policy).
void negotiatePresentationContexts(T_ASC_Parameters *params);

/// One instance to send with C-STORE.
struct StoreItem {
    std::string path;
    std::string sopClassUID;
    std::string sopInstanceUID;
    std::string transferSyntaxUID;
};

/// The outcome of one C-STORE sub-operation.
struct StoreResult {
    bool sent = false;           // a response was received
    Uint16 status = 0xC000;
    std::string comment;
};

/// Watches an association for a C-CANCEL of a given request while sub-operations run on it.
struct CancelWatch {
    T_ASC_PresentationContextID presID = 0;
    DIC_US messageID = 0;
    bool cancelled = false;
};

/// Sends a stored Part-10 file as a C-STORE on an established association and waits for the
/// response. Bit-preserving when the peer accepted the file's own transfer syntax; otherwise DCMTK
/// converts (decompresses) the data set. A network failure is returned as a bad condition.
OFCondition sendStoredFile(T_ASC_Association *assoc, const StoreItem &item, const char *moveOriginatorAE,
                           DIC_US moveOriginatorMessageID, int timeoutSeconds, StoreResult &result,
                           CancelWatch *cancel);

/// Presentation contexts to propose for sending `items`: each (SOP class, stored syntax) pair,
/// plus an uncompressed fallback per SOP class. At most 128 contexts (DICOM's limit).
struct ProposedContext {
    std::string abstractSyntax;
    std::vector<std::string> transferSyntaxes;
    T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT;
};
std::vector<std::vector<size_t>> planStoreBatches(const std::vector<StoreItem> &items,
                                                  std::vector<std::vector<ProposedContext>> &contexts);

/// Opens an association as requestor (over TLS when `tls`: the peer's certificate must be valid
/// and name `host`). On failure returns a bad condition and a message.
OFCondition openAssociation(const char *callingAE, const char *calledAE, const char *host, uint16_t port, bool tls,
                            int timeoutSeconds, const std::vector<ProposedContext> &contexts, uint32_t maxPDU,
                            T_ASC_Network **network, T_ASC_Association **assoc, std::string &message);

/// Releases (or, when `abort`, aborts) and frees an association opened with openAssociation.
void closeAssociation(T_ASC_Network **network, T_ASC_Association **assoc, bool abort);

} // namespace loupe
