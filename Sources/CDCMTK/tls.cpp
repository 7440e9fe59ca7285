// DICOM TLS: the TLS contexts, the acceptor's own handshake, peer certificates.
#include "tls.hpp"

#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/dcmtls/tlstrans.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <poll.h>

namespace loupe {

std::unique_ptr<DcmTLSTransportLayer> makeTLSLayer(T_ASC_NetworkRole role, const loupe_tls_config &config, std::string &message) {
    auto layer = std::make_unique<DcmTLSTransportLayer>(role, nullptr, OFFalse);
    if (!*layer) {
        message = "cannot create a TLS context (OpenSSL)";
        return nullptr;
    }
    const bool hasKey = config.private_key_file != nullptr && config.private_key_file[0] != '\0';
    if (hasKey) {
        layer->setPrivateKeyPasswd("");  // an encrypted key is an error, never a prompt on the console
        OFCondition cond = layer->setPrivateKeyFile(config.private_key_file, DCF_Filetype_PEM);
        if (cond.bad()) {
            message = std::string("cannot read the TLS private key ") + config.private_key_file + ": " + cond.text();
            return nullptr;
        }
        cond = layer->setCertificateFile(config.certificate_file ? config.certificate_file : "", DCF_Filetype_PEM);
        if (cond.bad()) {
            message = std::string("cannot read the TLS certificate ") + (config.certificate_file ? config.certificate_file : "") + ": " +
                      cond.text();
            return nullptr;
        }
        if (!layer->checkPrivateKeyMatchesCertificate()) {
            message = "the TLS private key does not belong to the certificate";
            return nullptr;
        }
    } else if (role != NET_REQUESTOR) {
        message = "a TLS acceptor needs a certificate and its private key";
        return nullptr;
    }
    if (config.ca_file != nullptr && config.ca_file[0] != '\0') {
        OFCondition cond = layer->addTrustedCertificateFile(config.ca_file, DCF_Filetype_PEM);
        if (cond.bad()) {
            message = std::string("cannot read the trusted certificates ") + config.ca_file + ": " + cond.text();
            return nullptr;
        }
    }
    // BCP 195 (non-downgrading): TLS 1.2 or 1.3, AEAD ciphersuites only.
    OFCondition cond = layer->setTLSProfile(TSP_Profile_BCP195_ND);
    if (cond.good()) cond = layer->activateCipherSuites();
    if (cond.bad()) {
        message = std::string("cannot set the TLS profile: ") + cond.text();
        return nullptr;
    }
    // A requestor always checks the acceptor's certificate; an acceptor requires one from its
    // peers, or checks it only when one is presented.
    layer->setCertificateVerification(role == NET_REQUESTOR || config.require_peer_certificate ? DCV_requireCertificate
                                                                                                  : DCV_checkCertificate);
    return layer;
}

/// A TLS connection whose handshake is done and whose first PDU (the A-ASSOCIATE-RQ) was read
/// already: DCMTK reads those bytes first.
class PrereadTLSConnection : public DcmTLSConnection {
public:
    PrereadTLSConnection(DcmNativeSocketType socket, SSL *ssl, std::vector<unsigned char> bytes)
        : DcmTLSConnection(socket, ssl), preread_(std::move(bytes)) {}

    ssize_t read(void *buffer, size_t length) override {
        if (offset_ < preread_.size()) {
            const size_t n = std::min(length, preread_.size() - offset_);
            memcpy(buffer, preread_.data() + offset_, n);
            offset_ += n;
            return static_cast<ssize_t>(n);
        }
        return DcmTLSConnection::read(buffer, length);
    }

    OFBool networkDataAvailable(int timeout) override {
        return offset_ < preread_.size() || DcmTLSConnection::networkDataAvailable(timeout);
    }

private:
    std::vector<unsigned char> preread_;
    size_t offset_ = 0;
};

DcmTransportConnection *HandoverLayer::createConnection(DcmNativeSocketType socket, OFBool useSecureLayer) {
    taken = true;
    DcmTransportConnection *connection = pending;
    pending = nullptr;
    if (useSecureLayer && connection != nullptr) return connection;
    delete connection;
    return useSecureLayer ? nullptr : DcmTransportLayer::createConnection(socket, useSecureLayer);
}

static std::string openSSLErrors() {
    std::string text;
    while (unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty()) text += "; ";
        text += buffer;
    }
    return text.empty() ? "connection closed" : text;
}

/// Waits (at most 200 ms) for the socket to become ready; false once the deadline has passed.
static bool waitForSocket(int socket, int sslError, std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd pfd{socket, static_cast<short>(sslError == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
    poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 200)));
    return true;
}

DcmTransportConnection *acceptTLS(DcmTLSTransportLayer &layer, int socket, int seconds, const std::atomic<bool> &stopping,
                                  std::string &reason) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    const int flags = fcntl(socket, F_GETFL);
    fcntl(socket, F_SETFL, flags | O_NONBLOCK);
    SSL *ssl = SSL_new(layer.getNativeHandle());
    if (ssl == nullptr) {
        reason = "cannot create a TLS session: " + openSSLErrors();
        return nullptr;
    }
    SSL_set_fd(ssl, socket);
    for (;;) {
        ERR_clear_error();
        const int result = SSL_accept(ssl);
        if (result == 1) break;
        const int error = SSL_get_error(ssl, result);
        if ((error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) && !stopping.load() &&
            waitForSocket(socket, error, deadline)) {
            continue;
        }
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
            reason = stopping.load() ? "the node is stopping" : "TLS handshake timed out";
        } else {
            reason = "TLS handshake failed: " + openSSLErrors();
            const long verified = SSL_get_verify_result(ssl);
            if (verified != X509_V_OK) reason += std::string(" (certificate: ") + X509_verify_cert_error_string(verified) + ")";
        }
        SSL_free(ssl);
        return nullptr;
    }
    // The A-ASSOCIATE-RQ: a 6-byte PDU header, then its body.
    std::vector<unsigned char> request;
    size_t wanted = 6;
    while (request.size() < wanted) {
        unsigned char buffer[4096];
        ERR_clear_error();
        const int n = SSL_read(ssl, buffer, static_cast<int>(std::min(sizeof buffer, wanted - request.size())));
        if (n > 0) {
            request.insert(request.end(), buffer, buffer + n);
            if (wanted == 6 && request.size() >= 6) {
                if (request[0] != 0x01) {
                    reason = "the first PDU over TLS is not an A-ASSOCIATE-RQ";
                    SSL_free(ssl);
                    return nullptr;
                }
                const size_t length = size_t(request[2]) << 24 | size_t(request[3]) << 16 | size_t(request[4]) << 8 | request[5];
                if (length > dcmAssociatePDUSizeLimit.get()) {
                    reason = "A-ASSOCIATE-RQ larger than allowed";
                    SSL_free(ssl);
                    return nullptr;
                }
                wanted = 6 + length;
            }
            continue;
        }
        const int error = SSL_get_error(ssl, n);
        if ((error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) && !stopping.load() &&
            waitForSocket(socket, error, deadline)) {
            continue;
        }
        reason = "no A-ASSOCIATE-RQ after the TLS handshake";
        SSL_free(ssl);
        return nullptr;
    }
    fcntl(socket, F_SETFL, flags);  // DCMTK expects a blocking socket
    return new PrereadTLSConnection(socket, ssl, std::move(request));
}

static X509 *peerCertificate(T_ASC_Association *assoc) {
    std::vector<unsigned char> der(ASC_getPeerCertificateLength(assoc));
    if (der.empty()) return nullptr;
    der.resize(ASC_getPeerCertificate(assoc, der.data(), static_cast<unsigned long>(der.size())));
    const unsigned char *bytes = der.data();
    return d2i_X509(nullptr, &bytes, static_cast<long>(der.size()));
}

void peerCertificateNames(T_ASC_Association *assoc, std::string &subject, std::string &commonName) {
    subject.clear();
    commonName.clear();
    X509 *certificate = peerCertificate(assoc);
    if (certificate == nullptr) return;
    X509_NAME *name = X509_get_subject_name(certificate);
    char buffer[256] = {0};
    if (X509_NAME_get_text_by_NID(name, NID_commonName, buffer, sizeof buffer) > 0) commonName = buffer;
    if (char *line = X509_NAME_oneline(name, nullptr, 0)) {
        subject = line;
        OPENSSL_free(line);
    }
    X509_free(certificate);
}

bool peerCertificateMatchesHost(T_ASC_Association *assoc, const char *host) {
    X509 *certificate = peerCertificate(assoc);
    if (certificate == nullptr) return false;
    const bool matches = X509_check_ip_asc(certificate, host, 0) == 1 ||
                         X509_check_host(certificate, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
    X509_free(certificate);
    return matches;
}

static std::mutex requestorMutex;
static std::unique_ptr<DcmTLSTransportLayer> requestorLayer;

DcmTLSTransportLayer *requestorTLSLayer() {
    std::lock_guard<std::mutex> lock(requestorMutex);
    return requestorLayer.get();
}

} // namespace loupe

extern "C" int loupe_tls_configure_requestor(const loupe_tls_config *config, char *error, size_t error_size) {
    std::string message;
    auto layer = loupe::makeTLSLayer(NET_REQUESTOR, *config, message);
    if (!layer) {
        loupe::setError(error, error_size, message);
        return -1;
    }
    std::lock_guard<std::mutex> lock(loupe::requestorMutex);
    // Kept for the life of the process: networks opened with the previous one may still use it.
    static std::vector<std::unique_ptr<DcmTLSTransportLayer>> retired;
    if (loupe::requestorLayer) retired.push_back(std::move(loupe::requestorLayer));
    loupe::requestorLayer = std::move(layer);
    return 0;
}
