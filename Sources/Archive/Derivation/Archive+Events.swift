import Foundation
import GRDB

/// An event as subscribers receive it: `payload` is a JSON object.
public struct StoredEvent: Sendable, Equatable {
    public let sequence: Int64
    public let topic: String
    public let payload: String
    public let createdAt: String
    /// The patient the event is about (from the payload), for subscribers limited to some patients.
    public let patientID: String?
}

/// Events after a cursor, and how far the log was read: a subscriber continues after `through`
/// (past events of other topics too, so they are not scanned again).
public struct EventPage: Sendable, Equatable {
    public let events: [StoredEvent]
    public let through: Int64
}

/// What a finding's event says; keys are DICOM keywords where there is one, and `details`, the
/// finding's own.
struct FindingEvent: Encodable {
    let SOPInstanceUID: String
    let SeriesInstanceUID: String
    let StudyInstanceUID: String
    let PatientID: String?
    let kind: String
    let label: String
    let probability: Double?
    let reason: String?
    let model: String
}

extension Archive {
    /// Events after `sequence`, oldest first, at most `limit`; `topics` nil for all. One snapshot.
    public func events(after sequence: Int64, topics: Set<String>? = nil, limit: Int = 500) throws(DerivationError) -> EventPage {
        try derivationRead { db in
            var sql = "SELECT \(self.eventColumns) FROM event WHERE seq > ?"
            var arguments: [DatabaseValueConvertible] = [sequence]
            if let topics {
                sql += " AND topic IN (\(topics.map { _ in "?" }.joined(separator: ", ")))"
                arguments += topics.sorted()
            }
            let events = try Row.fetchAll(db, sql: sql + " ORDER BY seq LIMIT \(limit)", arguments: StatementArguments(arguments))
                .map(Self.storedEvent)
            if events.count == limit { return EventPage(events: events, through: events.last?.sequence ?? sequence) }
            let newest = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM event") ?? 0
            return EventPage(events: events, through: max(sequence, newest))
        }
    }

    /// One event; nil when there is none (or it was pruned).
    public func event(sequence: Int64) throws(DerivationError) -> StoredEvent? {
        try derivationRead { db in
            try Row.fetchOne(db, sql: "SELECT \(self.eventColumns) FROM event WHERE seq = ?", arguments: [sequence]).map(Self.storedEvent)
        }
    }

    private var eventColumns: String { "seq, topic, payload, created_at, \(dialect.jsonValue("payload", "PatientID"))" }

    private static func storedEvent(_ row: Row) -> StoredEvent {
        StoredEvent(sequence: row[0], topic: row[1], payload: row[2], createdAt: row[3], patientID: row[4])
    }

    /// The sequence of the newest event ever written, pruned or not (0 before the first):
    /// subscribing from here gets only new ones.
    public func lastEventSequence() throws(DerivationError) -> Int64 {
        try derivationRead { db in try Int64.fetchOne(db, sql: dialect.lastAssignedSequence(table: "event", column: "seq")) ?? 0 }
    }

    /// Deletes events written before `date`; returns how many. Sequence numbers are not reused.
    @discardableResult
    public func pruneEvents(before date: Date) throws(DerivationError) -> Int {
        try derivationWrite { db in
            try db.execute(sql: "DELETE FROM event WHERE created_at < \(self.dialect.timestamp)", arguments: [date.timeIntervalSince1970])
            return db.changesCount
        }
    }

    /// Writes the event of a finding, in the transaction that stores it.
    static func publish(_ topic: String, _ finding: Finding, claim: DerivationClaim, db: Database) throws {
        let patientID = try String.fetchOne(db.cachedStatement(sql: """
            SELECT p.PatientID FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
            JOIN patient p ON p.id = st.patient_pk WHERE i.id = ?
            """), arguments: [claim.instancePK])
        let input = claim.input
        let event = FindingEvent(SOPInstanceUID: input.sopInstanceUID, SeriesInstanceUID: input.seriesInstanceUID,
                                 StudyInstanceUID: input.studyInstanceUID, PatientID: patientID, kind: finding.kind,
                                 label: finding.label, probability: finding.probability, reason: finding.reason, model: finding.model)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // The finding's details (a JSON object) go in as they are: the measurements behind an alert.
        var payload = String(decoding: try encoder.encode(event), as: UTF8.self)
        payload.removeLast()
        payload += #","details":"# + finding.details + "}"
        try db.cachedStatement(sql: "INSERT INTO event (topic, payload) VALUES (?, ?)").execute(arguments: [topic, payload])
    }
}
