import Foundation
import GRDB

/// A patient's flush photos of one day (the episode: one series per study, see `ingestPhoto`), with
/// their measurements and the alerts they raised. Keys are DICOM keywords where there is one.
public struct FlushEpisode: Sendable, Equatable, Codable {
    public let PatientID: String
    public var PatientName: String?
    public let StudyInstanceUID: String
    public let SeriesInstanceUID: String
    /// YYYYMMDD, local to the node.
    public let day: String
    /// In the order taken.
    public let photos: [FlushPhoto]
    /// Oldest first.
    public let alerts: [FlushAlert]
}

public struct FlushPhoto: Sendable, Equatable, Codable {
    public let SOPInstanceUID: String
    public let InstanceNumber: Int?
    /// YYYYMMDDHHMMSS (Content Date and Time: when the photo was taken, local to the node).
    public let taken: String?
    /// When the node received it (UTC, ISO 8601).
    public let received: String
    /// nil until the photo is analysed.
    public let level: String?
    /// The erythema-index rise over the baseline.
    public let score: Double?
    public let isBaseline: Bool?
}

public struct FlushAlert: Sendable, Equatable, Codable {
    /// The event's sequence number: `POST /api/alerts/{sequence}/acknowledge`.
    public let sequence: Int64
    public let SOPInstanceUID: String
    public let level: String
    public let score: Double?
    public let raised: String
    public let acknowledgedBy: String?
    public let acknowledged: String?
    public let note: String?
}

extension Archive {
    /// The flush episodes of a day (YYYYMMDD), the most recently photographed patient first;
    /// `patientID` for one patient's, `patients` to limit them to those.
    public func flushEpisodes(day: String, patientID: String? = nil, patients: [String]? = nil) throws(QueryError) -> [FlushEpisode] {
        do {
            return try database.read { db in
                var filter = "se.Modality = 'XC' AND se.SeriesDescription = ? AND se.SeriesDate = ?"
                var arguments: [DatabaseValueConvertible] = [PhotoSubmission.Kind.flush.seriesDescription, day]
                if let patientID {
                    filter += " AND p.PatientID = ?"
                    arguments.append(patientID)
                }
                if let patients {
                    filter += " AND p.PatientID IN (\(patients.map { _ in "?" }.joined(separator: ", ")))"
                    arguments += patients
                }
                let series = try Row.fetchAll(db, sql: """
                    SELECT se.id, se.SeriesInstanceUID, st.StudyInstanceUID, p.PatientID, p.PatientName
                    FROM series se JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk
                    WHERE \(filter)
                    """, arguments: StatementArguments(arguments))
                guard !series.isEmpty else { return [] }
                let uids: [String] = series.map { $0[1] }
                var alerts: [String: [FlushAlert]] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT e.seq, \(self.dialect.jsonValue("e.payload", "SOPInstanceUID")), \(self.dialect.jsonValue("e.payload", "label")),
                           \(self.dialect.jsonValue("e.payload", "details", "score")), e.created_at, a.actor, a.at, a.note,
                           \(self.dialect.jsonValue("e.payload", "SeriesInstanceUID"))
                    FROM event e LEFT JOIN alert_acknowledgement a ON a.event_seq = e.seq
                    WHERE e.topic = 'flush' AND \(self.dialect.jsonValue("e.payload", "SeriesInstanceUID")) IN (\(uids.map { _ in "?" }.joined(separator: ", ")))
                    ORDER BY e.seq
                    """, arguments: StatementArguments(uids)) {
                    alerts[row[8], default: []].append(FlushAlert(sequence: row[0], SOPInstanceUID: row[1], level: row[2], score: row[3],
                                                                  raised: row[4], acknowledgedBy: row[5], acknowledged: row[6], note: row[7]))
                }
                let episodes = try series.map { row in
                    let photos = try Row.fetchAll(db, sql: """
                        SELECT i.SOPInstanceUID, i.InstanceNumber, i.ContentDate || coalesce(substr(i.ContentTime, 1, 6), ''), i.received_at,
                               f.label, \(self.dialect.jsonValue("f.details", "score")), \(self.dialect.jsonValue("f.details", "isBaseline"))
                        FROM instance i LEFT JOIN finding f ON f.instance_pk = i.id AND f.kind = 'flush'
                        WHERE i.series_pk = ? ORDER BY i.ContentDate, i.ContentTime, i.InstanceNumber, i.id
                        """, arguments: [row[0] as Int64]).map { photo in
                        FlushPhoto(SOPInstanceUID: photo[0], InstanceNumber: photo[1], taken: photo[2], received: photo[3], level: photo[4],
                                   score: photo[5], isBaseline: (photo[6] as Int?).map { $0 != 0 })
                    }
                    return FlushEpisode(PatientID: row[3], PatientName: row[4], StudyInstanceUID: row[2], SeriesInstanceUID: row[1], day: day,
                                        photos: photos, alerts: alerts[row[1]] ?? [])
                }
                return episodes.sorted { ($0.photos.last?.received ?? "") > ($1.photos.last?.received ?? "") }
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }
}
