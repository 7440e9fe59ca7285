import DICOM
import Foundation
import GRDB

/// Index rows for one instance: patient, study and series found or created, the instance row
/// inserted, and the related counts kept in step — all inside the caller's transaction.
enum IndexWriter {
    struct InstanceRow {
        let attributes: InstanceAttributes
        let transferSyntaxUID: String
        let filePath: String
        let fileSize: Int
        let datasetOffset: Int
        /// The DICOM JSON, DEFLATE-compressed.
        let metadata: [UInt8]
        let sourceAE: String
    }

    enum Outcome {
        case inserted
        /// The instance was indexed meanwhile (a concurrent arrival) and policy is keep.
        case keptExisting
        /// The old row was replaced; its file and derived files (relative paths) can go.
        case replaced(oldPath: String, oldDerived: [String])
    }

    /// Executes a statement through the connection's statement cache (ingest runs the same few
    /// statements for every instance).
    private static func run(_ db: Database, _ sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// Indexes the instance and enqueues a derivation job for each of `processors`.
    static func store(_ row: InstanceRow, policy: DuplicatePolicy, processors: [String], db: Database) throws -> Outcome {
        var outcome = Outcome.inserted
        if let existing = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, file_path FROM instance WHERE SOPInstanceUID = ?"),
                                           arguments: [row.attributes.sopInstanceUID]) {
            if policy == .keep { return .keptExisting }
            let derived = try String.fetchAll(db.cachedStatement(sql: "SELECT path FROM derived_file WHERE instance_pk = ?"),
                                              arguments: [existing["id"]])
            try removeInstance(id: existing["id"], db: db)
            let oldPath: String = existing["file_path"]
            if oldPath != row.filePath { try markRemoved(oldPath, kind: "file", db: db) }
            for path in derived { try markRemoved(path, kind: "derived", db: db) }
            outcome = .replaced(oldPath: oldPath, oldDerived: derived)
        }
        let instancePK = try insert(row, db: db)
        try Archive.enqueueMissing(processors, db: db, instancePK: instancePK)
        return outcome
    }

    private static func insert(_ row: InstanceRow, db: Database) throws -> Int64 {
        let a = row.attributes
        let patientPK = try patient(a, db: db)
        let studyPK = try study(a, patientPK: patientPK, db: db)
        let seriesPK = try series(a, studyPK: studyPK, patientPK: patientPK, db: db)
        let instancePK = try requiredID(db, """
            INSERT INTO instance (series_pk, SOPInstanceUID, SOPClassUID, InstanceNumber, ContentDate, ContentTime,
                ContentTime_norm, Rows, Columns, BitsAllocated, NumberOfFrames, TransferSyntaxUID, file_path, file_size,
                dataset_offset, source_ae)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """, arguments: [seriesPK, a.sopInstanceUID, a.sopClassUID, a.instanceNumber, a.contentDate, a.contentTime,
                             normalized(a.contentTime, .TM), a.rows, a.columns, a.bitsAllocated, a.numberOfFrames, row.transferSyntaxUID,
                             row.filePath, row.fileSize, row.datasetOffset, row.sourceAE])
        try run(db, "INSERT INTO instance_metadata (instance_pk, document) VALUES (?, ?)",
                arguments: [instancePK, Data(row.metadata)])
        try run(db,  "UPDATE series SET num_instances = num_instances + 1 WHERE id = ?", arguments: [seriesPK])
        try run(db,  "UPDATE study SET num_instances = num_instances + 1 WHERE id = ?", arguments: [studyPK])
        try run(db,  "UPDATE patient SET num_instances = num_instances + 1 WHERE id = ?", arguments: [patientPK])
        return instancePK
    }

    private static func patient(_ a: InstanceAttributes, db: Database) throws -> Int64 {
        try findOrCreate(db, find: "SELECT id FROM patient WHERE PatientID = ? AND IssuerOfPatientID = ?",
                         key: [a.patientID, a.issuerOfPatientID], insert: """
            INSERT INTO patient (PatientID, IssuerOfPatientID, PatientName, PatientName_folded, PatientName_norm, PatientBirthDate,
                PatientBirthTime, PatientBirthTime_norm, PatientSex, OtherPatientIDs)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, values: [a.patientID, a.issuerOfPatientID, a.patientName, a.patientName.map(PersonNameFolding.fold),
                          normalized(a.patientName, .PN), a.patientBirthDate, a.patientBirthTime, normalized(a.patientBirthTime, .TM),
                          a.patientSex, a.otherPatientIDs])
    }

    private static func study(_ a: InstanceAttributes, patientPK: Int64, db: Database) throws -> Int64 {
        try findOrCreate(db, find: "SELECT id FROM study WHERE StudyInstanceUID = ?", key: [a.studyInstanceUID], insert: """
            INSERT INTO study (patient_pk, StudyInstanceUID, StudyDate, StudyTime, StudyTime_norm, AccessionNumber, StudyID,
                ReferringPhysicianName, ReferringPhysicianName_folded, ReferringPhysicianName_norm, StudyDescription, PatientAge)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, values: [patientPK, a.studyInstanceUID, a.studyDate, a.studyTime, normalized(a.studyTime, .TM), a.accessionNumber,
                          a.studyID, a.referringPhysicianName, a.referringPhysicianName.map(PersonNameFolding.fold),
                          normalized(a.referringPhysicianName, .PN), a.studyDescription, a.patientAge]) { _ in
            // A new study carries the newest patient demographics: corrections win over old values.
            try run(db, """
                UPDATE patient SET num_studies = num_studies + 1,
                    PatientName = coalesce(?, PatientName), PatientName_folded = coalesce(?, PatientName_folded),
                    PatientName_norm = coalesce(?, PatientName_norm),
                    PatientBirthDate = coalesce(?, PatientBirthDate), PatientSex = coalesce(?, PatientSex)
                WHERE id = ?
                """, arguments: [a.patientName, a.patientName.map(PersonNameFolding.fold), normalized(a.patientName, .PN),
                                 a.patientBirthDate, a.patientSex, patientPK])
        }
    }

    private static func series(_ a: InstanceAttributes, studyPK: Int64, patientPK: Int64, db: Database) throws -> Int64 {
        try findOrCreate(db, find: "SELECT id FROM series WHERE SeriesInstanceUID = ?", key: [a.seriesInstanceUID], insert: """
            INSERT INTO series (study_pk, SeriesInstanceUID, Modality, SeriesNumber, SeriesDescription, BodyPartExamined,
                SeriesDate, SeriesTime, SeriesTime_norm, PerformedProcedureStepStartDate, PerformedProcedureStepStartTime,
                PerformedProcedureStepStartTime_norm, InstitutionName, StationName)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, values: [studyPK, a.seriesInstanceUID, a.modality, a.seriesNumber, a.seriesDescription, a.bodyPartExamined,
                          a.seriesDate, a.seriesTime, normalized(a.seriesTime, .TM), a.performedProcedureStepStartDate,
                          a.performedProcedureStepStartTime, normalized(a.performedProcedureStepStartTime, .TM),
                          a.institutionName, a.stationName]) { _ in
            try run(db, "UPDATE study SET num_series = num_series + 1 WHERE id = ?", arguments: [studyPK])
            try run(db, "UPDATE patient SET num_series = num_series + 1 WHERE id = ?", arguments: [patientPK])
            try updateModalities(studyPK: studyPK, db: db)
        }
    }

    /// The form matching compares (`Schema.normalizedColumns`): times to their earliest instant, person
    /// names without trailing empty components.
    static func normalized(_ value: String?, _ vr: VR) -> String? {
        value.map { vr == .PN ? PersonNameFolding.normalized($0) : DateTimeNormalizer.lowerBound($0, vr: vr) }
    }

    /// The id of the row `find` selects by `key`, else of the row `insert` creates from `values`
    /// (then `created` runs, to count it). An insert that loses a race with another writer of the
    /// same key (another node, on a shared index) creates nothing and finds that writer's row.
    private static func findOrCreate(_ db: Database, find: String, key: StatementArguments, insert: String,
                                     values: StatementArguments, created: (Int64) throws -> Void = { _ in }) throws -> Int64 {
        let select = try db.cachedStatement(sql: find)
        if let pk = try Int64.fetchOne(select, arguments: key) { return pk }
        if let pk = try Int64.fetchOne(db.cachedStatement(sql: insert + " ON CONFLICT DO NOTHING RETURNING id"), arguments: values) {
            try created(pk)
            return pk
        }
        return try requiredID(db, find, arguments: key)
    }

    /// The id a statement must return (an `INSERT … RETURNING id`, or a SELECT of a row known to exist).
    private static func requiredID(_ db: Database, _ sql: String, arguments: StatementArguments) throws -> Int64 {
        guard let pk = try Int64.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) else {
            throw DatabaseError(resultCode: .SQLITE_INTERNAL, message: "no row from: \(sql)")
        }
        return pk
    }

    /// ModalitiesInStudy: the distinct modalities of the study's series, sorted, backslash-joined.
    private static func updateModalities(studyPK: Int64, db: Database) throws {
        let modalities = try String.fetchAll(db.cachedStatement(sql: """
            SELECT DISTINCT Modality FROM series WHERE study_pk = ? AND Modality IS NOT NULL ORDER BY Modality
            """), arguments: [studyPK])
        try run(db,  "UPDATE study SET ModalitiesInStudy = ? WHERE id = ?",
                       arguments: [modalities.joined(separator: "\\"), studyPK])
    }

    /// Records, in the transaction that makes it obsolete, a file to remove once it commits.
    private static func markRemoved(_ path: String, kind: String, db: Database) throws {
        try run(db, "INSERT INTO removed_file (path, kind) VALUES (?, ?) ON CONFLICT DO NOTHING", arguments: [path, kind])
    }

    /// Deletes an instance row, keeps the counts right and removes series, study and patient rows
    /// that become empty.
    static func removeInstance(id: Int64, db: Database) throws {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT i.series_pk, se.study_pk, st.patient_pk FROM instance i
            JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk WHERE i.id = ?
            """), arguments: [id]) else { return }
        let seriesPK: Int64 = row[0], studyPK: Int64 = row[1], patientPK: Int64 = row[2]
        try run(db,  "DELETE FROM instance WHERE id = ?", arguments: [id])
        try run(db,  "UPDATE series SET num_instances = num_instances - 1 WHERE id = ?", arguments: [seriesPK])
        try run(db,  "UPDATE study SET num_instances = num_instances - 1 WHERE id = ?", arguments: [studyPK])
        try run(db,  "UPDATE patient SET num_instances = num_instances - 1 WHERE id = ?", arguments: [patientPK])
        if try Int.fetchOne(db.cachedStatement(sql: "SELECT num_instances FROM series WHERE id = ?"), arguments: [seriesPK]) == 0 {
            try run(db,  "DELETE FROM series WHERE id = ?", arguments: [seriesPK])
            try run(db,  "UPDATE study SET num_series = num_series - 1 WHERE id = ?", arguments: [studyPK])
            try run(db,  "UPDATE patient SET num_series = num_series - 1 WHERE id = ?", arguments: [patientPK])
            try updateModalities(studyPK: studyPK, db: db)
        }
        if try Int.fetchOne(db.cachedStatement(sql: "SELECT num_instances FROM study WHERE id = ?"), arguments: [studyPK]) == 0 {
            try run(db,  "DELETE FROM study WHERE id = ?", arguments: [studyPK])
            try run(db,  "UPDATE patient SET num_studies = num_studies - 1 WHERE id = ?", arguments: [patientPK])
        }
        if try Int.fetchOne(db.cachedStatement(sql: "SELECT num_instances FROM patient WHERE id = ?"), arguments: [patientPK]) == 0 {
            try run(db,  "DELETE FROM patient WHERE id = ?", arguments: [patientPK])
        }
    }
}
