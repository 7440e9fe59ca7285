import Dispatch
import GRDB
import Synchronization

/// Index writes with group commit: while one transaction commits (and waits for its fsync), the
/// writes that arrive queue up and then commit together in the next transaction. Concurrent
/// associations share WAL fsyncs; a lone writer commits alone, as before. Each write runs in its
/// own savepoint, so one failing row never takes the others down.
final class GroupCommit: Sendable {
    private let database: DatabasePool
    private let state = Mutex(State())

    private struct State {
        var pending: [Ticket] = []
        var leaderActive = false
    }

    /// One waiting write. Fields are written by the leader before it signals, read after the wait.
    private final class Ticket: @unchecked Sendable {
        let work: (Database) throws -> Void
        var result: Result<Void, any Error>?
        let wakeUp = DispatchSemaphore(value: 0)
        init(_ work: @escaping (Database) throws -> Void) { self.work = work }
    }

    init(database: DatabasePool) { self.database = database }

    /// Runs `work` in a write transaction, possibly shared with concurrent writes; returns once committed.
    func write<T>(_ work: @escaping (Database) throws -> T) throws -> T {
        var value: T?
        try enqueue { db in value = try work(db) }
        return value!
    }

    private func enqueue(_ work: @escaping (Database) throws -> Void) throws {
        let ticket = Ticket(work)
        let leadsNow = state.withLock { s in
            s.pending.append(ticket)
            if s.leaderActive { return false }
            s.leaderActive = true
            return true
        }
        if !leadsNow { ticket.wakeUp.wait() }
        if ticket.result == nil {
            // This thread leads: commit everything queued (its own write included).
            let batch = state.withLock { s in
                defer { s.pending.removeAll() }
                return s.pending
            }
            commit(batch)
            let next: Ticket? = state.withLock { s in
                guard let first = s.pending.first else {
                    s.leaderActive = false
                    return nil
                }
                return first
            }
            next?.wakeUp.signal()  // hand leadership on: woken without a result, it leads
        }
        try ticket.result!.get()
    }

    private func commit(_ batch: [Ticket]) {
        do {
            try database.write { db in
                for ticket in batch {
                    do {
                        try db.inSavepoint {
                            try ticket.work(db)
                            ticket.result = .success(())
                            return .commit
                        }
                    } catch {
                        ticket.result = .failure(error)
                    }
                }
            }
        } catch {
            for ticket in batch { ticket.result = .failure(error) }
        }
        for ticket in batch { ticket.wakeUp.signal() }
    }
}
