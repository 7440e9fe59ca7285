// Outgoing associations: C-MOVE sub-operations and the SCU services.
#include "shim.hpp"
#include "tls.hpp"

#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"

#include <map>
#include <set>
#include <sstream>

namespace loupe {

OFCondition openAssociation(const char *callingAE, const char *calledAE, const char *host, uint16_t port, bool tls,
                            int timeoutSeconds, const std::vector<ProposedContext> &contexts, uint32_t maxPDU,
                            T_ASC_Network **network, T_ASC_Association **assoc, std::string &message) {
    *network = nullptr;
    *assoc = nullptr;
    DcmTLSTransportLayer *tlsLayer = tls ? requestorTLSLayer() : nullptr;
    if (tls && tlsLayer == nullptr) {
        message = std::string("cannot reach ") + calledAE + " over TLS: no TLS is configured for outgoing associations";
        return EC_IllegalCall;
    }
    OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, timeoutSeconds, network);
    if (cond.good() && tlsLayer != nullptr) cond = ASC_setTransportLayer(*network, tlsLayer, 0);
    if (cond.bad()) {
        message = std::string("cannot initialise network: ") + cond.text();
        if (*network != nullptr) ASC_dropNetwork(network);
        return cond;
    }
    T_ASC_Parameters *params = nullptr;
    cond = ASC_createAssociationParameters(&params, maxPDU == 0 ? ASC_DEFAULTMAXPDU : maxPDU);
    if (cond.bad()) {
        message = std::string("cannot create association parameters: ") + cond.text();
        ASC_dropNetwork(network);
        return cond;
    }
    ASC_setAPTitles(params, callingAE, calledAE, nullptr);
    ASC_setTransportLayerType(params, tls ? OFTrue : OFFalse);
    std::string peer = std::string(host) + ":" + std::to_string(port);
    ASC_setPresentationAddresses(params, OFStandard::getHostName().c_str(), peer.c_str());
    T_ASC_PresentationContextID id = 1;
    for (const ProposedContext &context : contexts) {
        std::vector<const char *> syntaxes;
        for (const std::string &s : context.transferSyntaxes) syntaxes.push_back(s.c_str());
        cond = ASC_addPresentationContext(params, id, context.abstractSyntax.c_str(), syntaxes.data(),
                                          static_cast<int>(syntaxes.size()), context.role);
        if (cond.bad()) {
            message = std::string("cannot add presentation context: ") + cond.text();
            ASC_destroyAssociationParameters(&params);
            ASC_dropNetwork(network);
            return cond;
        }
        id += 2;
    }
    cond = ASC_requestAssociation(*network, params, assoc);
    if (cond.bad()) {
        std::ostringstream text;
        if (cond == DUL_ASSOCIATIONREJECTED) {
            T_ASC_RejectParameters reject;
            ASC_getRejectParameters(params, &reject);
            OFString description;
            text << "association rejected by " << calledAE << "@" << peer << ": "
                 << ASC_printRejectParameters(description, &reject).c_str();
        } else {
            text << "cannot associate with " << calledAE << "@" << peer << ": " << cond.text();
        }
        message = text.str();
        if (*assoc != nullptr) {
            ASC_dropAssociation(*assoc);
            ASC_destroyAssociation(assoc);
        } else {
            ASC_destroyAssociationParameters(&params);
        }
        ASC_dropNetwork(network);
        return cond.good() ? EC_IllegalCall : cond;
    }
    if (tls && !peerCertificateMatchesHost(*assoc, host)) {
        message = std::string("the TLS certificate of ") + calledAE + "@" + peer + " does not name " + host;
        closeAssociation(network, assoc, true);
        return EC_IllegalCall;
    }
    if (ASC_countAcceptedPresentationContexts((*assoc)->params) == 0) {
        message = std::string(calledAE) + "@" + peer + " accepted none of the proposed presentation contexts";
        closeAssociation(network, assoc, true);
        return EC_IllegalCall;
    }
    return EC_Normal;
}

void closeAssociation(T_ASC_Network **network, T_ASC_Association **assoc, bool abort) {
    if (*assoc != nullptr) {
        if (abort) {
            ASC_abortAssociation(*assoc);
        } else if (ASC_releaseAssociation(*assoc).bad()) {
            ASC_abortAssociation(*assoc);
        }
        ASC_dropAssociation(*assoc);
        ASC_destroyAssociation(assoc);
    }
    if (*network != nullptr) ASC_dropNetwork(network);
}

std::vector<std::vector<size_t>> planStoreBatches(const std::vector<StoreItem> &items,
                                                  std::vector<std::vector<ProposedContext>> &contexts) {
    // Each batch proposes: one context per (SOP class, stored syntax), and per SOP class one with
    // uncompressed syntaxes as fallback. A new batch starts when 128 contexts would be exceeded.
    std::vector<std::vector<size_t>> batches;
    std::set<std::pair<std::string, std::string>> pairs;
    std::set<std::string> classesWithFallback;
    std::vector<ProposedContext> current;
    std::vector<size_t> currentItems;
    for (size_t i = 0; i < items.size(); i++) {
        const StoreItem &item = items[i];
        const auto key = std::make_pair(item.sopClassUID, item.transferSyntaxUID);
        const bool needPair = pairs.count(key) == 0;
        const bool needFallback = classesWithFallback.count(item.sopClassUID) == 0;
        const size_t needed = (needPair ? 1 : 0) + (needFallback ? 1 : 0);
        if (current.size() + needed > 128) {
            batches.push_back(currentItems);
            contexts.push_back(current);
            current.clear();
            currentItems.clear();
            pairs.clear();
            classesWithFallback.clear();
        }
        if (pairs.insert(key).second) {
            current.push_back({item.sopClassUID, {item.transferSyntaxUID}, ASC_SC_ROLE_DEFAULT});
        }
        if (classesWithFallback.insert(item.sopClassUID).second) {
            ProposedContext fallback{item.sopClassUID,
                                     {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax},
                                     ASC_SC_ROLE_DEFAULT};
            current.push_back(fallback);  // also for explicit VR data: Implicit VR LE is every node's default
        }
        currentItems.push_back(i);
    }
    if (!currentItems.empty()) {
        batches.push_back(currentItems);
        contexts.push_back(current);
    }
    return batches;
}

} // namespace loupe
