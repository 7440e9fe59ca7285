import Access
import Archive
import Foundation
import Logging
import ServiceLifecycle

/// Access bookkeeping while the node runs: the start and stop of the node in the audit trail,
/// expired sessions removed hourly, and the audit log's last entries written at shutdown.
struct AccessLifecycle: Service {
    let access: AccessControl
    let logger: Logger

    func run() async throws {
        let access = self.access
        access.auditLog.record(Self.event(.applicationStart))
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let pruned = await Task.detached { Result { () throws(AccessError) in try access.pruneSessions() } }.value
            if case .failure(let error) = pruned { logger.error("cannot remove expired sessions", metadata: ["error": "\(error)"]) }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
        access.auditLog.record(Self.event(.applicationStop))
        await Task.detached { access.auditLog.flush() }.value
    }

    static func event(_ action: AuditRecord.Action) -> AuditRecord {
        AuditRecord(actor: "loupe", actorKind: .system, address: nil, action: action, detail: "pid \(getpid())")
    }
}
