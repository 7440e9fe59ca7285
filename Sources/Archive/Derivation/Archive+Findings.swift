import Foundation
import GRDB

/// A reviewer's verdict on a finding: the model was right, or it raised a false alarm.
public enum ReviewVerdict: String, Sendable, Codable, CaseIterable {
    case confirmed
    case falseAlarm = "false-alarm"
}

/// A finding with where it was found (the study's, the patient's) and, once reviewed, the verdict.
public struct IndexedFinding: Sendable, Equatable, Codable {
    public let sopInstanceUID: String
    public let seriesInstanceUID: String
    public let studyInstanceUID: String
    public let patientID: String
    public var patientName: String?
    public let modality: String?
    public let studyDate: String?
    public let studyDescription: String?
    public let kind: String
    public let label: String
    public let probability: Double?
    public let reason: String?
    /// The measurement a photo finding is about: a flush's erythema-index rise, a lesion's total
    /// dermoscopy score.
    public let score: Double?
    public let model: String
    public let foundAt: String
    public let review: Review?

    public struct Review: Sendable, Equatable, Codable {
        public let verdict: ReviewVerdict
        public let reviewer: String
        public let note: String?
        public let at: String
        /// The model whose finding was judged (a later run may have replaced the finding).
        public let model: String
        public let label: String
    }

    /// JSON keys are DICOM keywords where there is one.
    enum CodingKeys: String, CodingKey {
        case sopInstanceUID = "SOPInstanceUID", seriesInstanceUID = "SeriesInstanceUID", studyInstanceUID = "StudyInstanceUID"
        case patientID = "PatientID", patientName = "PatientName", modality = "Modality", studyDate = "StudyDate"
        case studyDescription = "StudyDescription"
        case kind, label, probability, reason, score, model, foundAt, review
    }
}

/// Which findings a list holds (nil: any).
public struct FindingSelection: Sendable, Equatable {
    public var kind: String?
    public var label: String?
    public var patientID: String?
    /// false: those still to review; true: those reviewed.
    public var reviewed: Bool?
    /// Only these patients' (nil: everyone's).
    public var patients: [String]?
    /// Only in series of these modalities (nil: any).
    public var modalities: [String]?
    public var limit = 50
    public var offset = 0
    public init() {}
}

/// A page of a list of findings, newest first, and how many there are in all.
public struct FindingPage: Sendable, Equatable, Codable {
    public var items: [IndexedFinding]
    public let total: Int
    /// Of the selection, reviewed or not, those not reviewed yet.
    public let remaining: Int
}

extension Archive {
    /// Findings, newest first: e.g. the review queue (kind `anomaly`, label `invalid`, not reviewed),
    /// or everything found in a patient's images.
    public func findings(_ selection: FindingSelection) throws(DerivationError) -> FindingPage {
        try derivationRead { db in
            var filter = "TRUE"
            var arguments: [DatabaseValueConvertible] = []
            for (column, value) in [("f.kind", selection.kind), ("f.label", selection.label), ("p.PatientID", selection.patientID)] {
                if let value {
                    filter += " AND \(column) = ?"
                    arguments.append(value)
                }
            }
            for (column, values) in [("p.PatientID", selection.patients), ("se.Modality", selection.modalities)] {
                if let values {
                    filter += " AND \(column) IN (\(values.map { _ in "?" }.joined(separator: ", ")))"
                    arguments += values
                }
            }
            let counts = try Row.fetchOne(db, sql: "SELECT count(*), count(*) - count(r.verdict) \(Self.findingTables) WHERE \(filter)",
                                          arguments: StatementArguments(arguments))!
            var listed = filter
            switch selection.reviewed {
            case true?: listed += " AND r.verdict IS NOT NULL"
            case false?: listed += " AND r.verdict IS NULL"
            case nil: break
            }
            let rows = try Row.fetchAll(db, sql: """
                \(self.findingColumns) \(Self.findingTables) WHERE \(listed) ORDER BY f.created_at DESC, i.id DESC LIMIT ? OFFSET ?
                """, arguments: StatementArguments(arguments + [selection.limit, selection.offset]))
            let total: Int = counts[0], remaining: Int = counts[1]
            return FindingPage(items: rows.map(Self.indexedFinding),
                               total: selection.reviewed.map { $0 ? total - remaining : remaining } ?? total, remaining: remaining)
        }
    }

    /// Records a verdict on an instance's finding of `kind` (replacing an earlier one), with its audit
    /// entry (about that instance and its patient) in the same transaction. Nil when the instance has
    /// no such finding.
    public func review(sopInstanceUID: String, kind: String, verdict: ReviewVerdict, note: String?,
                       audit: AuditRecord) throws(DerivationError) -> IndexedFinding? {
        var audit = audit
        audit.sopInstanceUID = sopInstanceUID
        return try derivationWrite(durable: true) { [audit] db -> IndexedFinding? in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT f.instance_pk, f.model, f.label FROM finding f JOIN instance i ON i.id = f.instance_pk
                WHERE i.SOPInstanceUID = ? AND f.kind = ?
                """, arguments: [sopInstanceUID, kind]) else { return nil }
            let instance: Int64 = row[0]
            try db.execute(sql: """
                INSERT INTO finding_review (instance_pk, kind, verdict, reviewer, note, model, label) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (instance_pk, kind) DO UPDATE SET verdict = excluded.verdict, reviewer = excluded.reviewer,
                    note = excluded.note, model = excluded.model, label = excluded.label, at = \(self.dialect.now)
                """, arguments: [instance, kind, verdict.rawValue, audit.actor, note, row[1] as String, row[2] as String])
            try self.insertAudit(audit, db: db)
            return try Row.fetchOne(db, sql: "\(self.findingColumns) \(Self.findingTables) WHERE f.instance_pk = ? AND f.kind = ?",
                                    arguments: [instance, kind]).map(Self.indexedFinding)
        }
    }

    private var findingColumns: String {
        """
        SELECT i.SOPInstanceUID, se.SeriesInstanceUID, st.StudyInstanceUID, p.PatientID, p.PatientName, se.Modality, st.StudyDate,
               st.StudyDescription, f.kind, f.label, f.probability, f.reason, f.model, f.created_at,
               coalesce(\(dialect.jsonValue("f.details", "score")), \(dialect.jsonValue("f.details", "totalDermoscopyScore"))),
               r.verdict, r.reviewer, r.note, r.at, r.model, r.label
        """
    }
    private static let findingTables = """
        FROM finding f JOIN instance i ON i.id = f.instance_pk JOIN series se ON se.id = i.series_pk
        JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk
        LEFT JOIN finding_review r ON r.instance_pk = f.instance_pk AND r.kind = f.kind
        """

    private static func indexedFinding(_ row: Row) -> IndexedFinding {
        let verdict = (row[15] as String?).flatMap(ReviewVerdict.init(rawValue:))
        return IndexedFinding(sopInstanceUID: row[0], seriesInstanceUID: row[1], studyInstanceUID: row[2], patientID: row[3], patientName: row[4],
                              modality: row[5], studyDate: row[6], studyDescription: row[7], kind: row[8], label: row[9], probability: row[10],
                              reason: row[11], score: row[14], model: row[12], foundAt: row[13],
                              review: verdict.map {
                                  IndexedFinding.Review(verdict: $0, reviewer: row[16], note: row[17], at: row[18], model: row[19], label: row[20])
                              })
    }
}
