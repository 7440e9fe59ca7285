import Foundation
import GRDB

extension Archive {
    /// Appends entries to the audit trail in one durable transaction.
    public func appendAudit(_ records: [AuditRecord]) throws(AccessRecordError) {
        guard !records.isEmpty else { return }
        try accessWrite { db in
            for record in records { try self.insertAudit(record, db: db) }
        }
    }

    /// Audit entries matching `filter`, oldest first (or newest first, `filter.newestFirst`).
    public func audit(_ filter: AuditFilter) throws(AccessRecordError) -> [AuditRecord] {
        var conditions: [String] = []
        var arguments: [DatabaseValueConvertible] = []
        if let actor = filter.actor { conditions.append("actor = ?"); arguments.append(actor) }
        if let patient = filter.patientID { conditions.append("patient_id = ?"); arguments.append(patient) }
        if let action = filter.action { conditions.append("action = ?"); arguments.append(action.rawValue) }
        if let from = filter.from { conditions.append("at >= \(self.dialect.timestamp)"); arguments.append(from.timeIntervalSince1970) }
        if let to = filter.to { conditions.append("at <= \(self.dialect.timestamp)"); arguments.append(to.timeIntervalSince1970) }
        if let after = filter.after { conditions.append("seq > ?"); arguments.append(after) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try accessRead { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, at, actor, actor_kind, address, action, outcome, patient_id, study_uid, series_uid, instance_uid, detail
                FROM audit \(whereClause) ORDER BY seq\(filter.newestFirst ? " DESC" : "") LIMIT ?
                """, arguments: StatementArguments(arguments + [max(0, filter.limit)])).map(Self.auditRecord)
        }
    }

    /// Writes one audit entry inside the caller's transaction. A missing Patient ID is taken from the
    /// study, else from the instance.
    func insertAudit(_ r: AuditRecord, db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO audit (at, actor, actor_kind, address, action, outcome, patient_id, study_uid, series_uid, instance_uid, detail)
            VALUES (\(dialect.timestamp), ?, ?, ?, ?, ?,
                    COALESCE(?, (SELECT p.PatientID FROM study st JOIN patient p ON p.id = st.patient_pk WHERE st.StudyInstanceUID = ?),
                             (SELECT p.PatientID FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
                              JOIN patient p ON p.id = st.patient_pk WHERE i.SOPInstanceUID = ?)),
                    ?, ?, ?, ?)
            """).execute(arguments: [
                r.time.timeIntervalSince1970, r.actor, r.actorKind.rawValue, r.address, r.action.rawValue, r.outcome.rawValue,
                r.patientID, r.studyInstanceUID, r.sopInstanceUID,
                r.studyInstanceUID, r.seriesInstanceUID, r.sopInstanceUID, r.detail,
            ])
    }

    private static func auditRecord(_ row: Row) -> AuditRecord {
        var record = AuditRecord(time: parseTimestamp(row[1]) ?? Date(timeIntervalSince1970: 0), actor: row[2],
                                 actorKind: AuditRecord.ActorKind(rawValue: row[3]) ?? .anonymous, address: row[4],
                                 action: AuditRecord.Action(rawValue: row[5]) ?? .accessDenied,
                                 outcome: AuditRecord.Outcome(rawValue: row[6]) ?? .error, patientID: row[7],
                                 studyInstanceUID: row[8], seriesInstanceUID: row[9], sopInstanceUID: row[10], detail: row[11])
        record.sequence = row[0]
        return record
    }

    /// Reads the index's `strftime('%Y-%m-%dT%H:%M:%fZ')` text back into a date.
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// Runs `work` in one durable write transaction, mapping failures to `AccessRecordError`.
    func accessWrite<T>(_ work: (Database) throws -> T) throws(AccessRecordError) -> T {
        do {
            return try database.write(work)
        } catch let error as AccessRecordError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw AccessRecordError(.duplicate, "\(error.message ?? "constraint failed")")
        } catch {
            throw AccessRecordError(.index, "index update failed: \(error)")
        }
    }

    func accessRead<T>(_ work: (Database) throws -> T) throws(AccessRecordError) -> T {
        do {
            return try database.read(work)
        } catch let error as AccessRecordError {
            throw error
        } catch {
            throw AccessRecordError(.index, "index query failed: \(error)")
        }
    }
}

extension Archive {
    /// The Patient ID of a study; nil when there is no such study.
    public func patientID(ofStudy studyInstanceUID: String) throws(AccessRecordError) -> String? {
        try accessRead { db in
            try String.fetchOne(db.cachedStatement(sql: """
                SELECT p.PatientID FROM study st JOIN patient p ON p.id = st.patient_pk WHERE st.StudyInstanceUID = ?
                """), arguments: [studyInstanceUID])
        }
    }

    /// The Patient ID of an instance; nil when there is no such instance.
    public func patientID(ofInstance sopInstanceUID: String) throws(AccessRecordError) -> String? {
        try accessRead { db in
            try String.fetchOne(db.cachedStatement(sql: """
                SELECT p.PatientID FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
                JOIN patient p ON p.id = st.patient_pk WHERE i.SOPInstanceUID = ?
                """), arguments: [sopInstanceUID])
        }
    }
}

extension Archive {
    /// Modalities of clinical photographs: what an identity limited to photos may read.
    public static let clinicalPhotographModalities: Set<String> = ["XC", "DMS"]

    /// The modality of each series of a study (empty when there is no such study).
    public func seriesModalities(ofStudy studyInstanceUID: String) throws(AccessRecordError) -> [String] {
        try accessRead { db in
            try String.fetchAll(db.cachedStatement(sql: """
                SELECT COALESCE(se.Modality, '') FROM series se JOIN study st ON st.id = se.study_pk WHERE st.StudyInstanceUID = ?
                """), arguments: [studyInstanceUID])
        }
    }

    /// The modality of a series; nil when there is no such series.
    public func modality(ofSeries seriesInstanceUID: String) throws(AccessRecordError) -> String? {
        try accessRead { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(Modality, '') FROM series WHERE SeriesInstanceUID = ?"),
                                arguments: [seriesInstanceUID])
        }
    }

    /// The modality of an instance's series; nil when there is no such instance.
    public func modality(ofInstance sopInstanceUID: String) throws(AccessRecordError) -> String? {
        try accessRead { db in
            try String.fetchOne(db.cachedStatement(sql: """
                SELECT COALESCE(se.Modality, '') FROM instance i JOIN series se ON se.id = i.series_pk WHERE i.SOPInstanceUID = ?
                """), arguments: [sopInstanceUID])
        }
    }
}
