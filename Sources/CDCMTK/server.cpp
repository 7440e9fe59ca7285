// The accept loop and the C interface of the SCP.
#include "association.hpp"

#include "dcmtk/dcmnet/dulstruc.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netdb.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

/// Waits until a complete A-ASSOCIATE-RQ PDU is in the socket's receive buffer (peeked, not read),
/// so that DCMTK's read of it cannot block. False on timeout, stop, close or anything that is not
/// an association request.
// DCMTK takes a pre-accepted socket through a process-wide setting, dcmExternalSocketHandle, which
// also stops ASC_initializeNetwork from opening an acceptor's listening socket while it is set: every
// receive and every acceptor set-up in the process holds this lock (each server has its own network,
// but the setting is one).
static std::mutex &externalSocketMutex() {
    static std::mutex mutex;
    return mutex;
}

static bool waitForAssociateRequest(int fd, int timeoutSeconds, const std::atomic<bool> &stopping) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
    std::vector<uint8_t> peeked(6);
    size_t wanted = 6;
    while (std::chrono::steady_clock::now() < deadline && !stopping.load()) {
        pollfd pfd{fd, POLLIN, 0};
        if (poll(&pfd, 1, 200) < 0 && errno != EINTR) return false;
        if (!(pfd.revents & POLLIN)) continue;
        if (peeked.size() < wanted) peeked.resize(wanted);
        const ssize_t n = recv(fd, peeked.data(), wanted, MSG_PEEK);
        if (n <= 0) return false;  // closed, or an error
        if (static_cast<size_t>(n) >= 6 && wanted == 6) {
            if (peeked[0] != 0x01) return false;  // not an A-ASSOCIATE-RQ
            const size_t length = size_t(peeked[2]) << 24 | size_t(peeked[3]) << 16 | size_t(peeked[4]) << 8 | peeked[5];
            if (length > dcmAssociatePDUSizeLimit.get()) return false;
            wanted = 6 + length;
            continue;
        }
        if (static_cast<size_t>(n) >= wanted) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the rest of the PDU is on its way
    }
    return false;
}

/// A listening TCP socket on `address` (IPv4 or IPv6; every address when empty) and `port`.
static int listenOn(const char *address, uint16_t port, std::string &problem) {
    const std::string host = address != nullptr ? address : "";
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo *found = nullptr;
    const std::string service = std::to_string(port);
    const int status = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
    if (status != 0 || found == nullptr) {
        problem = "cannot listen on " + host + ": not an IP address (" + gai_strerror(status) + ")";
        return -1;
    }
    // Every address: IPv4's wildcard, which DCMTK's own acceptor also uses.
    addrinfo *chosen = found;
    for (addrinfo *a = found; host.empty() && a != nullptr; a = a->ai_next) {
        if (a->ai_family == AF_INET) chosen = a;
    }
    if (chosen->ai_family != AF_INET) {
        // DCMTK 3.6.7 reads a peer's address as IPv4 only: caller rules by host would never match.
        problem = "cannot listen on " + host + ": DIMSE binds IPv4 addresses only";
        freeaddrinfo(found);
        return -1;
    }
    const int fd = socket(chosen->ai_family, chosen->ai_socktype, chosen->ai_protocol);
    int reuse = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse) != 0 ||
        bind(fd, chosen->ai_addr, chosen->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        problem = "cannot listen on " + (host.empty() ? std::string("port ") : host + " port ") + service + ": " + strerror(errno);
        if (fd >= 0) close(fd);
        freeaddrinfo(found);
        return -1;
    }
    freeaddrinfo(found);
    return fd;
}

void loupe_scp::acceptLoop() {
    while (!stopping.load()) {
        reapFinishedWorkers(false);
        pollfd pfd{listenSocket, POLLIN, 0};
        if (poll(&pfd, 1, 1000) <= 0 || !(pfd.revents & POLLIN)) continue;
        const int fd = accept(listenSocket, nullptr, nullptr);
        if (fd < 0) continue;
        if (connecting.load() >= maxAssociations) {
            close(fd);  // a flood of connections that say nothing: not worth a thread each
            continue;
        }
        connecting++;
        std::lock_guard<std::mutex> lock(workersMutex);
        workers.emplace_back();
        Worker &worker = workers.back();
        worker.thread = std::thread([this, fd, &worker] {
            serveConnection(fd);
            {
                // Under the lock, so a stop() between checking `active` and waiting cannot miss this.
                std::lock_guard<std::mutex> lock(workersMutex);
                worker.done = true;
            }
            workersChanged.notify_all();
        });
    }
}

/// The address of a connected peer, for messages.
static std::string peerAddress(int fd) {
    sockaddr_storage address;
    socklen_t length = sizeof(address);
    char host[NI_MAXHOST] = "";
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0) {
        getnameinfo(reinterpret_cast<sockaddr *>(&address), length, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    }
    return host;
}

void loupe_scp::reportRejected(int fd, const std::string &reason) {
    if (!handlers.ended) return;
    const std::string host = peerAddress(fd);
    loupe_association a{0, "", "", host.c_str(), tls() ? 1 : 0, "", ""};
    handlers.ended(handlers.context, &a, ("rejected: " + reason).c_str());
}

void loupe_scp::serveConnection(int fd) {
    // A connection that does not send its association request promptly (a port scanner, a health
    // check, a TLS peer that stalls its handshake) occupies only this thread, never the accept loop.
    DcmTransportConnection *handshaken = nullptr;
    if (tls()) {
        std::string reason;
        handshaken = loupe::acceptTLS(*tlsLayer, fd, acseTimeout, stopping, reason);
        if (handshaken == nullptr) {
            reportRejected(fd, reason);
            close(fd);
            connecting--;
            return;
        }
    } else if (!waitForAssociateRequest(fd, acseTimeout, stopping)) {
        close(fd);
        connecting--;
        return;
    }
    T_ASC_Association *assoc = nullptr;
    OFCondition cond;
    {
        // One at a time (externalSocketMutex). The request is already complete in the buffer (or
        // read over TLS), so this is quick.
        std::lock_guard<std::mutex> lock(externalSocketMutex());
        handover.pending = handshaken;
        handover.taken = false;
        dcmExternalSocketHandle.set(fd);
        cond = ASC_receiveAssociation(network, &assoc, static_cast<long>(maxPDU), nullptr, nullptr, tls() ? OFTrue : OFFalse,
                                      DUL_BLOCK, acseTimeout);
        dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
        if (handover.pending != nullptr) {  // not taken: DCMTK failed before creating the connection
            delete handover.pending;        // which closes the socket
            handover.pending = nullptr;
            fd = -1;
        } else if (handover.taken) {
            fd = -1;  // DCMTK's connection owns the socket now
        }
    }
    connecting--;
    if (cond.bad()) {
        if (assoc != nullptr) {
            ASC_dropAssociation(assoc);
            ASC_destroyAssociation(&assoc);
        }
        if (fd >= 0) close(fd);  // DCMTK failed before taking the socket
        return;
    }
    if (stopping.load() || active.load() >= maxAssociations) {
        // Full (or closing): a clean transient rejection the requester may retry later.
        T_ASC_RejectParameters reject{ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                                      ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
        ASC_rejectAssociation(assoc, &reject);
        if (handlers.ended) {
            const DUL_ASSOCIATESERVICEPARAMETERS &dul = assoc->params->DULparams;
            loupe_association a{0, dul.callingAPTitle, dul.calledAPTitle, dul.callingPresentationAddress, tls() ? 1 : 0, "", ""};
            handlers.ended(handlers.context, &a, "rejected: too many associations");
        }
        ASC_dropAssociation(assoc);
        ASC_destroyAssociation(&assoc);
        return;
    }
    active++;
    {
        // The handler's destructor drops and frees the association.
        loupe::AssociationHandler handler(*this, nextID++);
        handler.run(assoc);
    }
    std::lock_guard<std::mutex> lock(workersMutex);
    active--;
}

void loupe_scp::reapFinishedWorkers(bool all) {
    std::list<Worker> finished;
    {
        std::lock_guard<std::mutex> lock(workersMutex);
        for (auto it = workers.begin(); it != workers.end();) {
            auto next = std::next(it);
            if (all || it->done.load()) finished.splice(finished.end(), workers, it);
            it = next;
        }
    }
    for (Worker &worker : finished) {
        if (worker.thread.joinable()) worker.thread.join();
    }
}

extern "C" loupe_scp *loupe_scp_start(const loupe_scp_config *config, loupe_scp_handlers handlers, char *error,
                                      size_t error_size) {
    auto *scp = new loupe_scp();
    scp->aeTitle = config->ae_title ? config->ae_title : "LOUPE";
    std::random_device entropy;
    char token[24];
    snprintf(token, sizeof token, "%08x%08x", entropy(), entropy());
    scp->stagingPrefix = std::string(config->staging_dir ? config->staging_dir : "/tmp") + "/dimse-" + token + "-";
    scp->handlers = handlers;
    if (config->max_associations > 0) scp->maxAssociations = config->max_associations;
    if (config->acse_timeout_seconds > 0) scp->acseTimeout = config->acse_timeout_seconds;
    if (config->dimse_timeout_seconds > 0) scp->dimseTimeout = config->dimse_timeout_seconds;
    if (config->max_pdu_length >= ASC_MINIMUMPDUSIZE) scp->maxPDU = config->max_pdu_length;

    if (config->tls != nullptr) {
        std::string message;
        scp->tlsLayer = loupe::makeTLSLayer(NET_ACCEPTOR, *config->tls, message);
        if (!scp->tlsLayer) {
            loupe::setError(error, error_size, message);
            delete scp;
            return nullptr;
        }
    }
    std::string problem;
    scp->listenSocket = listenOn(config->bind_address, config->port, problem);
    if (scp->listenSocket < 0) {
        loupe::setError(error, error_size, problem);
        delete scp;
        return nullptr;
    }
    OFCondition cond;
    {
        // With a socket handle set, DCMTK opens no listening socket of its own.
        std::lock_guard<std::mutex> lock(externalSocketMutex());
        dcmExternalSocketHandle.set(scp->listenSocket);
        cond = ASC_initializeNetwork(NET_ACCEPTOR, config->port, scp->acseTimeout, &scp->network);
        dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    }
    // Both kinds of port go through the handover layer: it says whether DCMTK took a socket.
    if (cond.good()) cond = ASC_setTransportLayer(scp->network, &scp->handover, 0);
    if (cond.bad()) {
        loupe::setError(error, error_size, std::string("cannot set up the DICOM network: ") + cond.text());
        if (scp->network != nullptr) ASC_dropNetwork(&scp->network);
        close(scp->listenSocket);
        delete scp;
        return nullptr;
    }
    // The port actually bound (config->port may be 0 for an ephemeral port).
    sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (getsockname(scp->listenSocket, reinterpret_cast<sockaddr *>(&address), &length) == 0) {
        scp->port = address.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6 *>(&address)->sin6_port)
                                                  : ntohs(reinterpret_cast<sockaddr_in *>(&address)->sin_port);
    } else {
        scp->port = config->port;
    }
    scp->acceptThread = std::thread([scp] { scp->acceptLoop(); });
    return scp;
}

extern "C" uint16_t loupe_scp_port(const loupe_scp *scp) { return scp->port; }

extern "C" int loupe_scp_active_associations(const loupe_scp *scp) { return scp->active.load(); }

extern "C" void loupe_scp_stop(loupe_scp *scp, int grace_seconds) {
    if (scp == nullptr) return;
    scp->stopping = true;
    if (scp->acceptThread.joinable()) scp->acceptThread.join();
    {
        std::unique_lock<std::mutex> lock(scp->workersMutex);
        scp->workersChanged.wait_for(lock, std::chrono::seconds(grace_seconds > 0 ? grace_seconds : 0),
                                     [scp] { return scp->active.load() == 0; });
    }
    scp->hardStop = true;  // cancel sub-operations still running after the grace period
    scp->reapFinishedWorkers(true);
    ASC_dropNetwork(&scp->network);
    close(scp->listenSocket);
    delete scp;
}
