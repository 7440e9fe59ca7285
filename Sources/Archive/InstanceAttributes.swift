import DICOM

/// The attributes of one instance that the index keeps as columns, read from its data set.
package struct InstanceAttributes: Sendable {
    // Patient
    var patientID: String
    var issuerOfPatientID: String
    var patientName: String?
    var patientBirthDate: String?
    var patientBirthTime: String?
    var patientSex: String?
    var otherPatientIDs: String?
    // Study
    var studyInstanceUID: String
    var studyDate: String?
    var studyTime: String?
    var accessionNumber: String?
    var studyID: String?
    var referringPhysicianName: String?
    var studyDescription: String?
    var patientAge: String?
    // Series
    var seriesInstanceUID: String
    var modality: String?
    var seriesNumber: Int?
    var seriesDescription: String?
    var bodyPartExamined: String?
    var seriesDate: String?
    var seriesTime: String?
    var performedProcedureStepStartDate: String?
    var performedProcedureStepStartTime: String?
    var institutionName: String?
    var stationName: String?
    // Instance
    var sopInstanceUID: String
    var sopClassUID: String
    var instanceNumber: Int?
    var contentDate: String?
    var contentTime: String?
    var rows: Int?
    var columns: Int?
    var bitsAllocated: Int?
    var numberOfFrames: Int?

    /// Reads the attributes; throws when a UID the hierarchy needs is missing or invalid.
    package init(_ ds: DataSet, meta: DataSet) throws(IngestError) {
        func uid(_ tag: Tag, _ name: String, fallback: Tag? = nil) throws(IngestError) -> String {
            guard let value = ds.string(tag) ?? fallback.flatMap({ meta.string($0) }) else {
                throw IngestError(.missingAttribute, "\(name) \(tag) is missing or empty")
            }
            guard UIDSyntax.isAcceptable(value) else {
                throw IngestError(.invalidUID, "\(name) '\(value)' is not a valid UID")
            }
            return value
        }
        sopInstanceUID = try uid(.sopInstanceUID, "SOP Instance UID", fallback: .mediaStorageSOPInstanceUID)
        sopClassUID = try uid(.sopClassUID, "SOP Class UID", fallback: .mediaStorageSOPClassUID)
        studyInstanceUID = try uid(.studyInstanceUID, "Study Instance UID")
        seriesInstanceUID = try uid(.seriesInstanceUID, "Series Instance UID")

        func text(_ tag: Tag) -> String? {
            guard let joined = ds.joinedString(tag), !joined.isEmpty else { return nil }
            return joined
        }
        func date(_ tag: Tag) -> String? { text(tag).map(Self.normalizedDate) }

        patientID = ds.string(.patientID) ?? ""
        issuerOfPatientID = ds.string(.issuerOfPatientID) ?? ""
        patientName = text(.patientName)
        patientBirthDate = date(.patientBirthDate)
        patientBirthTime = text(.patientBirthTime)
        patientSex = text(.patientSex)
        otherPatientIDs = text(.otherPatientIDs)
        studyDate = date(.studyDate)
        studyTime = text(.studyTime)
        accessionNumber = text(.accessionNumber)
        studyID = text(.studyID)
        referringPhysicianName = text(.referringPhysicianName)
        studyDescription = text(.studyDescription)
        patientAge = text(.patientAge)
        modality = text(.modality)
        seriesNumber = ds.integer(.seriesNumber)
        seriesDescription = text(.seriesDescription)
        bodyPartExamined = text(.bodyPartExamined)
        seriesDate = date(.seriesDate)
        seriesTime = text(.seriesTime)
        performedProcedureStepStartDate = date(.performedProcedureStepStartDate)
        performedProcedureStepStartTime = text(.performedProcedureStepStartTime)
        institutionName = text(.institutionName)
        stationName = text(.stationName)
        instanceNumber = ds.integer(.instanceNumber)
        contentDate = date(.contentDate)
        contentTime = text(.contentTime)
        rows = ds.integer(.rows)
        columns = ds.integer(.columns)
        bitsAllocated = ds.integer(.bitsAllocated)
        numberOfFrames = ds.integer(.numberOfFrames)
    }

    /// ACR-NEMA style `YYYY.MM.DD` dates become `YYYYMMDD`, so dates compare as strings.
    static func normalizedDate(_ value: String) -> String {
        value.count == 10 && value.contains(".") ? value.replacing(".", with: "") : value
    }
}

/// The UID check the archive applies: digits in non-empty components separated by single dots, at
/// most 64 characters (PS3.5 9.1). Lenient in one way: real devices emit components with leading
/// zeros, which the standard forbids but losing such an instance would be worse. Every accepted
/// UID is a safe file name and URL path segment (never `.` or `..`: the archive's paths are made of
/// UIDs), which every service can serve.
enum UIDSyntax {
    static func isAcceptable(_ uid: String) -> Bool {
        guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
        var previous: UInt8 = UInt8(ascii: ".")
        for byte in uid.utf8 {
            if byte == UInt8(ascii: ".") {
                guard previous != UInt8(ascii: ".") else { return false }   // empty component
            } else if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                return false
            }
            previous = byte
        }
        return previous != UInt8(ascii: ".")
    }

    /// What a retrieve may name: digits and dots, at most 64 characters, the rule of earlier
    /// versions, so instances they archived with empty components stay retrievable.
    static func isPlausible(_ uid: String) -> Bool {
        !uid.isEmpty && uid.utf8.count <= 64 && uid.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 46 }
    }
}
