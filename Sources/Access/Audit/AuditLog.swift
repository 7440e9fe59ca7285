import Archive
import Dispatch
import Foundation
import Logging
import Synchronization

/// Writes the audit entries of actions that have no transaction of their own (queries, retrieves,
/// refused requests) in batches, so a read does not wait for an fsync: entries are written within
/// `delay` of the action, many per transaction. Actions with a transaction (store, user and token
/// changes, logins, acknowledgements) write their entry in it through the archive instead.
public final class AuditLog: Sendable {
    private let archive: Archive
    private let logger: Logger
    private let delay: DispatchTimeInterval
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "loupe.audit")

    private struct State {
        var pending: [AuditRecord] = []
        var scheduled = false
    }

    public init(archive: Archive, delay: DispatchTimeInterval = .milliseconds(200), logger: Logger = Logger(label: "loupe.audit")) {
        self.archive = archive
        self.delay = delay
        self.logger = logger
    }

    /// Queues an entry; it is written within `delay`.
    public func record(_ entry: AuditRecord) {
        let schedule = state.withLock { s -> Bool in
            s.pending.append(entry)
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
        if schedule { queue.asyncAfter(deadline: .now() + delay) { self.write() } }
    }

    /// Writes what is queued now (also at shutdown), in order with every other write.
    public func flush() {
        queue.sync { write() }
    }

    /// Entries that cannot be written are logged (without patient data) and kept for the next
    /// attempt. Runs on `queue` only, so batches commit in the order they were taken.
    private func write() {
        let batch = state.withLock { s in
            defer {
                s.pending.removeAll()
                s.scheduled = false
            }
            return s.pending
        }
        guard !batch.isEmpty else { return }
        do {
            try archive.appendAudit(batch)
        } catch {
            logger.error("audit entries not written; retrying", metadata: ["count": "\(batch.count)", "reason": "\(error)"])
            let schedule = state.withLock { s -> Bool in
                s.pending.insert(contentsOf: batch, at: 0)
                if s.scheduled { return false }
                s.scheduled = true
                return true
            }
            if schedule { queue.asyncAfter(deadline: .now() + .seconds(1)) { self.write() } }
        }
    }
}
