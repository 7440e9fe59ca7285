// The accept loop and the C interface of the SCP.
#include "association.hpp"

#include "dcmtk/dcmnet/dulstruc.h"

#include <arpa/inet.h>
#include <chrono>
#include <sys/socket.h>

void loupe_scp::acceptLoop() {
    while (!stopping.load()) {
        T_ASC_Association *assoc = nullptr;
        // A short non-blocking wait, so that stop is noticed within a second.
        OFCondition cond = ASC_receiveAssociation(network, &assoc, static_cast<long>(maxPDU), nullptr, nullptr,
                                                  OFFalse, DUL_NOBLOCK, 1);
        reapFinishedWorkers(false);
        if (cond == DUL_NOASSOCIATIONREQUEST || cond.bad()) {
            if (assoc != nullptr) {
                ASC_dropAssociation(assoc);
                ASC_destroyAssociation(&assoc);
            }
            continue;
        }
        if (stopping.load() || active.load() >= maxAssociations) {
            // Full (or closing): a clean transient rejection the requester may retry later.
            T_ASC_RejectParameters reject{ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                                          ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
            ASC_rejectAssociation(assoc, &reject);
            if (handlers.ended) {
                const DUL_ASSOCIATESERVICEPARAMETERS &dul = assoc->params->DULparams;
                loupe_association a{0, dul.callingAPTitle, dul.calledAPTitle, dul.callingPresentationAddress};
                handlers.ended(handlers.context, &a, "rejected: too many associations");
            }
            ASC_dropAssociation(assoc);
            ASC_destroyAssociation(&assoc);
            continue;
        }
        active++;
        const uint64_t id = nextID++;
        std::lock_guard<std::mutex> lock(workersMutex);
        workers.emplace_back();
        Worker &worker = workers.back();
        worker.thread = std::thread([this, assoc, id, &worker] {
            {
                // The handler's destructor drops and frees the association.
                loupe::AssociationHandler handler(*this, id);
                handler.run(assoc);
            }
            {
                // Under the lock, so a stop() between checking `active` and waiting cannot miss this.
                std::lock_guard<std::mutex> lock(workersMutex);
                active--;
                worker.done = true;
            }
            workersChanged.notify_all();
        });
    }
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
    scp->stagingDir = config->staging_dir ? config->staging_dir : "/tmp";
    scp->handlers = handlers;
    if (config->max_associations > 0) scp->maxAssociations = config->max_associations;
    if (config->acse_timeout_seconds > 0) scp->acseTimeout = config->acse_timeout_seconds;
    if (config->dimse_timeout_seconds > 0) scp->dimseTimeout = config->dimse_timeout_seconds;
    if (config->max_pdu_length >= ASC_MINIMUMPDUSIZE) scp->maxPDU = config->max_pdu_length;

    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, config->port, scp->acseTimeout, &scp->network);
    if (cond.bad()) {
        loupe::setError(error, error_size, std::string("cannot listen on port ") + std::to_string(config->port) + ": " +
                                               cond.text());
        delete scp;
        return nullptr;
    }
    // The port actually bound (config->port may be 0 for an ephemeral port).
    auto *key = reinterpret_cast<PRIVATE_NETWORKKEY *>(scp->network->network);
    sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (getsockname(key->networkSpecific.TCP.listenSocket, reinterpret_cast<sockaddr *>(&address), &length) == 0) {
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
    delete scp;
}
