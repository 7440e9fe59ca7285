import Archive
import Foundation
import Logging
import ServiceLifecycle

/// Keeps the event log (`/api/events`) to `days` of history: pruned at start and every hour.
/// Subscribers resuming from a pruned event get what remains after it.
struct EventRetention: Service {
    let archive: Archive
    let days: Int
    let logger: Logger

    func run() async throws {
        guard days > 0 else {
            try? await gracefulShutdown()  // kept for ever; a service that returns would stop the node
            return
        }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let archive = self.archive, cutoff = Date(timeIntervalSinceNow: -Double(days) * 86_400)
            let pruned = await Task.detached { Result { () throws(DerivationError) in try archive.pruneEvents(before: cutoff) } }.value
            switch pruned {
            case .success(let count) where count > 0:
                logger.info("pruned old events", metadata: ["count": "\(count)", "retention_days": "\(days)"])
            case .success: break
            case .failure(let error): logger.error("cannot prune events", metadata: ["error": "\(error)"])
            }
            // An hour, cut short by a graceful shutdown.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
