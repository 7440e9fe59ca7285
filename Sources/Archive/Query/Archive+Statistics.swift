import GRDB

/// How much the archive holds.
public struct ArchiveStatistics: Sendable, Equatable, Codable {
    public let patients: Int
    public let studies: Int
    public let series: Int
    public let instances: Int
    /// Derivation jobs per state: the queue depth is `pending` + `running`.
    public let derivations: [String: Int]
    /// Instances the anomaly classifier flagged as invalid.
    public let flagged: Int
    /// Findings by kind and label, e.g. `anomaly`: `valid` 120, `invalid` 3.
    public let findings: [String: [String: Int]]
}

/// A patient as the index knows it, with its counts.
public struct PatientSummary: Sendable, Equatable, Codable {
    public let patientID: String
    public let issuerOfPatientID: String
    public let patientName: String?
    public let patientBirthDate: String?
    public let patientSex: String?
    public let studies: Int
    public let series: Int
    public let instances: Int

    /// JSON keys are DICOM keywords.
    enum CodingKeys: String, CodingKey {
        case patientID = "PatientID", issuerOfPatientID = "IssuerOfPatientID", patientName = "PatientName"
        case patientBirthDate = "PatientBirthDate", patientSex = "PatientSex"
        case studies = "NumberOfPatientRelatedStudies", series = "NumberOfPatientRelatedSeries"
        case instances = "NumberOfPatientRelatedInstances"
    }
}

extension Archive {
    public func statistics() throws(QueryError) -> ArchiveStatistics {
        do {
            return try database.read { db in
                let row = try Row.fetchOne(db, sql: """
                    SELECT (SELECT count(*) FROM patient), (SELECT count(*) FROM study),
                           (SELECT count(*) FROM series), (SELECT count(*) FROM instance)
                    """)!
                var findings: [String: [String: Int]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT kind, label, count(*) FROM finding GROUP BY kind, label") {
                    findings[row[0], default: [:]][row[1]] = row[2]
                }
                return ArchiveStatistics(patients: row[0], studies: row[1], series: row[2], instances: row[3],
                                         derivations: try Archive.derivationCounts(db),
                                         flagged: findings["anomaly"]?["invalid"] ?? 0, findings: findings)
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }

    /// The patients with this Patient ID (one per issuer).
    public func patients(id: String) throws(QueryError) -> [PatientSummary] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT PatientID, IssuerOfPatientID, PatientName, PatientBirthDate, PatientSex,
                           num_studies, num_series, num_instances
                    FROM patient WHERE PatientID = ? ORDER BY IssuerOfPatientID
                    """, arguments: [id]).map { row in
                    PatientSummary(patientID: row[0], issuerOfPatientID: row[1], patientName: row[2], patientBirthDate: row[3],
                                   patientSex: row[4], studies: row[5], series: row[6], instances: row[7])
                }
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }
}
