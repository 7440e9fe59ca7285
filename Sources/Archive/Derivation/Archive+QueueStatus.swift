import Foundation
import GRDB

/// The derivation queue and the event log as an operator watches them (`/metrics`).
public struct QueueStatus: Sendable, Equatable {
    public struct Processor: Sendable, Equatable {
        public let name: String
        public let pending: Int
        public let running: Int
        public let failed: Int
        /// How long the oldest job still to do (pending or running) has waited, in seconds; 0 with none.
        public let lagSeconds: Double
    }
    public let processors: [Processor]
    /// Events kept per topic (older ones go after the retention period).
    public let events: [String: Int]
}

extension Archive {
    /// Jobs to do and failed per processor (each registered processor listed, also when idle), the
    /// age of the oldest job to do, and the events kept per topic. Reads indexed counts only: done
    /// jobs, the bulk of the table, are not counted.
    public func queueStatus(now: Date = Date()) throws(DerivationError) -> QueueStatus {
        let processors = configuration.derivation.processors
        return try derivationRead { db in
            var counts: [String: (pending: Int, running: Int, failed: Int, oldest: String?)] = [:]
            for name in processors { counts[name] = (0, 0, 0, nil) }
            for row in try Row.fetchAll(db, sql: """
                SELECT processor, state, count(*), min(updated_at) FROM derivation_job
                WHERE state IN ('pending', 'running', 'failed') GROUP BY processor, state
                """) {
                let name: String = row[0], state: String = row[1], count: Int = row[2], oldest: String? = row[3]
                var entry = counts[name] ?? (0, 0, 0, nil)
                switch state {
                case "pending": entry.pending = count
                case "running": entry.running = count
                default: entry.failed = count
                }
                if state != "failed", let oldest, entry.oldest.map({ oldest < $0 }) ?? true { entry.oldest = oldest }
                counts[name] = entry
            }
            let parse = ISO8601DateFormatter()
            parse.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let status = counts.keys.sorted().map { name in
                let entry = counts[name]!
                let lag = entry.oldest.flatMap { parse.date(from: $0) }.map { max(0, now.timeIntervalSince($0)) } ?? 0
                return QueueStatus.Processor(name: name, pending: entry.pending, running: entry.running, failed: entry.failed, lagSeconds: lag)
            }
            var events: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT topic, count(*) FROM event GROUP BY topic") { events[row[0]] = row[1] }
            return QueueStatus(processors: status, events: events)
        }
    }
}
