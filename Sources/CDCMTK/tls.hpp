// DICOM TLS (PS3.15 B.1, the BCP 195 profile) over DCMTK's dcmtls and OpenSSL.
#pragma once

#include "shim.hpp"

#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmtls/tlslayer.h"

#include <memory>
#include <mutex>

namespace loupe {

/// A configured TLS context (DCMTK's DcmTLSTransportLayer): certificate, key, trusted CAs, TLS 1.2 or
/// newer (BCP 195), and whether the peer must present a certificate. Nullptr with a message on failure.
std::unique_ptr<DcmTLSTransportLayer> makeTLSLayer(T_ASC_NetworkRole role, const loupe_tls_config &config, std::string &message);

/// The transport layer of a TLS acceptor network. The worker thread of a connection does the TLS
/// handshake and reads the A-ASSOCIATE-RQ itself, with a deadline (DCMTK would block in
/// ASC_receiveAssociation for a minute on a silent peer, holding the process-wide socket lock); this
/// layer then hands that finished connection to DCMTK. `pending` is set and consumed under the lock.
class HandoverLayer : public DcmTransportLayer {
public:
    DcmTransportConnection *pending = nullptr;
    /// Set when DCMTK created a connection (and so owns the socket); a plain network uses this layer
    /// too, to know whether a failed receive left the socket to Loupe.
    bool taken = false;
    DcmTransportConnection *createConnection(DcmNativeSocketType socket, OFBool useSecureLayer) override;
};

/// Handshake and A-ASSOCIATE-RQ on an accepted socket, within `seconds` (or until `stopping`). Returns
/// the connection to hand over, or nullptr with the reason (the socket is then still open).
DcmTransportConnection *acceptTLS(DcmTLSTransportLayer &layer, int socket, int seconds, const std::atomic<bool> &stopping,
                                  std::string &reason);

/// The subject (one line) and common name of an association's peer certificate; empty without one.
void peerCertificateNames(T_ASC_Association *assoc, std::string &subject, std::string &commonName);

/// Whether the peer certificate of an outgoing association names `host` (a DNS name or an IP
/// address, in its subject alternative names or common name). DCMTK checks only the chain.
bool peerCertificateMatchesHost(T_ASC_Association *assoc, const char *host);

/// The process-wide TLS context of outgoing associations (set by loupe_tls_configure_requestor).
DcmTLSTransportLayer *requestorTLSLayer();

} // namespace loupe
