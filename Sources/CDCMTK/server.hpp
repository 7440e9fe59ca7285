// The SCP: an accept loop and one DcmThreadSCP per association (DcmSCPPool in DCMTK 3.6.7 never
// joins its worker threads, so Loupe runs its own pool).
#pragma once

#include "shim.hpp"
#include "tls.hpp"

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

struct loupe_scp {
    std::string aeTitle;
    /// `<staging directory>/dimse-<random>-`: staged names unique to this listener, so no other listener
    /// (plain and TLS share the directory) and no later run reuses one. A staged file keeps its
    /// name until its index row commits, as a second name of the archived file: receiving into a
    /// reused name would overwrite the archive.
    std::string stagingPrefix;
    loupe_scp_handlers handlers;
    int maxAssociations = 16;
    int acseTimeout = 30;
    int dimseTimeout = 60;
    uint32_t maxPDU = 65536;
    uint16_t port = 0;

    /// The socket listened on: Loupe's own, bound to the configured address (DCMTK 3.6.7 binds every address).
    int listenSocket = -1;
    T_ASC_Network *network = nullptr;
    /// Set for a TLS port: the TLS context, and the layer that hands DCMTK connections whose
    /// handshake the worker thread did.
    std::unique_ptr<DcmTLSTransportLayer> tlsLayer;
    loupe::HandoverLayer handover;
    bool tls() const { return tlsLayer != nullptr; }
    std::thread acceptThread;
    /// Set by stop: no new associations; idle ones are aborted.
    std::atomic<bool> stopping{false};
    /// Set when the grace period is over: running sub-operations are cancelled too.
    std::atomic<bool> hardStop{false};
    std::atomic<int> active{0};
    /// Connections accepted whose association request has not been read yet.
    std::atomic<int> connecting{0};
    std::atomic<uint64_t> nextID{1};

    struct Worker {
        std::thread thread;
        std::atomic<bool> done{false};
    };
    std::mutex workersMutex;
    std::condition_variable workersChanged;
    std::list<Worker> workers;

    void acceptLoop();
    /// Tells the application about a connection refused before it became an association.
    void reportRejected(int fd, const std::string &reason);
    /// One connection: its association request, then (if accepted) its whole association.
    void serveConnection(int fd);
    void reapFinishedWorkers(bool all);
};
