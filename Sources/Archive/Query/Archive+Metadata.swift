import DICOM
import Foundation
import GRDB

/// The stored DICOM JSON of one instance, with where it belongs.
public struct MetadataRecord: Sendable {
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let sopInstanceUID: String
    /// The document, DEFLATE-compressed as stored; `json()` inflates it.
    public let compressedDocument: [UInt8]

    public func json() throws(QueryError) -> [UInt8] {
        do {
            return try Deflate.decompress(compressedDocument)
        } catch {
            throw QueryError(.database, "stored metadata of \(sopInstanceUID) is corrupt: \(error)")
        }
    }
}

extension Archive {
    /// The stored documents of a study, a series or one instance (nil UIDs widen the scope), in
    /// series and instance-number order. No file is read.
    public func metadata(study: String, series: String? = nil, instance: String? = nil) throws(QueryError) -> [MetadataRecord] {
        var sql = """
            SELECT st.StudyInstanceUID, se.SeriesInstanceUID, i.SOPInstanceUID, m.document
            FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
            JOIN instance_metadata m ON m.instance_pk = i.id
            WHERE st.StudyInstanceUID = ?
            """
        var arguments: [String] = [study]
        if let series {
            sql += " AND se.SeriesInstanceUID = ?"
            arguments.append(series)
        }
        if let instance {
            sql += " AND i.SOPInstanceUID = ?"
            arguments.append(instance)
        }
        sql += " ORDER BY se.SeriesNumber, se.id, i.InstanceNumber, i.id"
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                    MetadataRecord(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopInstanceUID: row[2],
                                   compressedDocument: [UInt8](row[3] as Data))
                }
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }

    /// The stored documents of the given instances, by SOP Instance UID.
    public func metadata(sopInstanceUIDs: [String]) throws(QueryError) -> [String: MetadataRecord] {
        guard !sopInstanceUIDs.isEmpty else { return [:] }
        let list = (try? JSONSerialization.data(withJSONObject: sopInstanceUIDs)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        do {
            return try database.read { db in
                var records: [String: MetadataRecord] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT st.StudyInstanceUID, se.SeriesInstanceUID, i.SOPInstanceUID, m.document
                    FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
                    JOIN instance_metadata m ON m.instance_pk = i.id
                    WHERE \(dialect.inJSONArray("i.SOPInstanceUID", integers: false))
                    """, arguments: [list]) {
                    let record = MetadataRecord(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopInstanceUID: row[2],
                                                compressedDocument: [UInt8](row[3] as Data))
                    records[record.sopInstanceUID] = record
                }
                return records
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }

    /// The DICOM JSON stored at ingest for an instance (bulk values as `MetadataDocument.bulkDataScheme` URIs).
    public func metadata(sopInstanceUID: String) throws(QueryError) -> String? {
        let record: MetadataRecord?
        do {
            record = try database.read { db in
                try Row.fetchOne(db, sql: """
                    SELECT st.StudyInstanceUID, se.SeriesInstanceUID, i.SOPInstanceUID, m.document
                    FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
                    JOIN instance_metadata m ON m.instance_pk = i.id WHERE i.SOPInstanceUID = ?
                    """, arguments: [sopInstanceUID]).map { row in
                    MetadataRecord(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopInstanceUID: row[2],
                                   compressedDocument: [UInt8](row[3] as Data))
                }
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
        return try record.map { record throws(QueryError) in String(decoding: try record.json(), as: UTF8.self) }
    }
}
