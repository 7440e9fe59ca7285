// Presentation context acceptance for incoming associations.
//
// DcmSCPConfig holds at most 128 presentation contexts, fewer than there are storage SOP classes,
// so the SCP negotiates here instead: every storage SOP class DCMTK knows, Verification, and
// Patient/Study Root FIND, MOVE and GET; any transfer syntax DCMTK knows.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"

#include <cstring>

namespace loupe {

static bool isKnownTransferSyntax(const char *uid) {
    return DcmXfer(uid).getXfer() != EXS_Unknown;
}

/// Storage: the requester's first proposal we know. Data is stored as received, so accepting what
/// the sender prefers (usually its file's own syntax) avoids any conversion on either side.
static const char *chooseForStorage(const T_ASC_PresentationContext &pc) {
    for (int i = 0; i < pc.transferSyntaxCount; i++) {
        if (isKnownTransferSyntax(pc.proposedTransferSyntaxes[i])) return pc.proposedTransferSyntaxes[i];
    }
    return nullptr;
}

/// Commands and identifiers: explicit VR little endian preferred, then implicit, then big endian.
/// Never deflated: DCMTK would inflate an identifier in memory without bound (a deflate bomb), and
/// identifiers are small enough not to need it.
static const char *chooseForServices(const T_ASC_PresentationContext &pc) {
    static const char *preference[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
                                       UID_BigEndianExplicitTransferSyntax};
    for (const char *wanted : preference) {
        for (int i = 0; i < pc.transferSyntaxCount; i++) {
            if (strcmp(pc.proposedTransferSyntaxes[i], wanted) == 0) return pc.proposedTransferSyntaxes[i];
        }
    }
    return nullptr;
}

void negotiatePresentationContexts(T_ASC_Parameters *params) {
    const int count = ASC_countPresentationContexts(params);
    for (int i = 0; i < count; i++) {
        T_ASC_PresentationContext pc;
        if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
        const ServiceKind kind = classifyAbstractSyntax(pc.abstractSyntax);
        if (kind == ServiceKind::unsupported) {
            ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
            continue;
        }
        const char *syntax = kind == ServiceKind::storage ? chooseForStorage(pc) : chooseForServices(pc);
        if (syntax == nullptr) {
            ASC_refusePresentationContext(params, pc.presentationContextID, ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
            continue;
        }
        // A C-GET requester proposes storage contexts in which it is the SCP: accept the role it asks for.
        T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT;
        if (kind == ServiceKind::storage &&
            (pc.proposedRole == ASC_SC_ROLE_SCP || pc.proposedRole == ASC_SC_ROLE_SCUSCP)) {
            role = pc.proposedRole;
        }
        ASC_acceptPresentationContext(params, pc.presentationContextID, syntax, role);
    }
}

} // namespace loupe
