import Archive
import DICOM
import Foundation

// Shared by the test targets: temporary archives and generated instances.

/// A fresh archive in a temporary directory, removed when the test is done.
public final class TemporaryArchive: @unchecked Sendable {
    public let directory: URL
    public var archive: Archive { current! }
    /// Optional so that `reopen` can close it before opening again.
    private var current: Archive?

    public init(policy: DuplicatePolicy = .keep, derivation: DerivationPolicy = DerivationPolicy()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-archive-\(UUID().uuidString)")
        current = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: policy,
                                                                  derivation: derivation))
    }

    /// Closes and reopens the archive on the same directory (a restart).
    public func reopen(policy: DuplicatePolicy = .keep, derivation: DerivationPolicy = DerivationPolicy(), alone: Bool = false) throws {
        current = nil  // as a process exit would: an archive open elsewhere is not recovered
        current = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: policy,
                                                                  derivation: derivation), alone: alone)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Stages Part-10 bytes as a writer would and ingests them.
    @discardableResult
    public func store(_ bytes: [UInt8], origin: String = "TEST") throws -> IngestResult {
        let staged = archive.stagingURL(prefix: "test")
        try Data(bytes).write(to: staged)
        return try archive.ingest(staged: staged, source: IngestSource(origin: origin))
    }

    public func storedFiles() -> [URL] {
        let root = directory.appendingPathComponent("files")
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "dcm" }
    }

    public func stagedFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("tmp").path)) ?? []
    }
}

/// A small CT instance with the attributes the index cares about.
public struct Instance: Sendable {
    public var patientID: String
    public var patientName: String
    public var birthDate: String
    public var sex: String
    public var studyUID: String
    public var studyDate: String
    public var studyTime: String
    public var accession: String
    public var studyDescription: String
    public var referring: String
    public var seriesUID: String
    public var modality: String
    public var seriesNumber: Int
    public var sopUID: String
    public var sopClass: String
    public var instanceNumber: Int
    public var characterSet: String?

    public init(patientID: String = "P1", patientName: String = "DOE^JOHN", birthDate: String = "19700101", sex: String = "M",
                studyUID: String = UID.generate(), studyDate: String = "20230115", studyTime: String = "101500",
                accession: String = "A1", studyDescription: String = "CHEST", referring: String = "HOUSE^GREGORY",
                seriesUID: String = UID.generate(), modality: String = "CT", seriesNumber: Int = 1,
                sopUID: String = UID.generate(), sopClass: String = "1.2.840.10008.5.1.4.1.1.2", instanceNumber: Int = 1,
                characterSet: String? = nil) {
        self.patientID = patientID
        self.patientName = patientName
        self.birthDate = birthDate
        self.sex = sex
        self.studyUID = studyUID
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.accession = accession
        self.studyDescription = studyDescription
        self.referring = referring
        self.seriesUID = seriesUID
        self.modality = modality
        self.seriesNumber = seriesNumber
        self.sopUID = sopUID
        self.sopClass = sopClass
        self.instanceNumber = instanceNumber
        self.characterSet = characterSet
    }

    public var dataSet: DataSet {
        var ds = DataSet()
        if let characterSet { ds.set(.specificCharacterSet, .CS, characterSet) }
        ds.set(.sopClassUID, .UI, sopClass)
        ds.set(.sopInstanceUID, .UI, sopUID)
        ds.set(.studyDate, .DA, studyDate)
        ds.set(.studyTime, .TM, studyTime)
        ds.set(.accessionNumber, .SH, accession)
        ds.set(.modality, .CS, modality)
        ds.set(.referringPhysicianName, .PN, referring)
        ds.set(.studyDescription, .LO, studyDescription)
        ds.set(.patientName, .PN, patientName)
        ds.set(.patientID, .LO, patientID)
        ds.set(.patientBirthDate, .DA, birthDate)
        ds.set(.patientSex, .CS, sex)
        ds.set(Tag(0x0018, 0x1030), .LO, "Protocol \(modality)")  // not an index column
        ds.set(.studyInstanceUID, .UI, studyUID)
        ds.set(.seriesInstanceUID, .UI, seriesUID)
        ds.set(.seriesNumber, .IS, String(seriesNumber))
        ds.set(.instanceNumber, .IS, String(instanceNumber))
        ds.set(DataElement(tag: .rows, uint16: [2]))
        ds.set(DataElement(tag: .columns, uint16: [2]))
        ds.set(DataElement(tag: .bitsAllocated, uint16: [16]))
        ds.set(DataElement(tag: .bitsStored, uint16: [16]))
        ds.set(DataElement(tag: Tag(0x0028, 0x0102), uint16: [15]))  // High Bit
        ds.set(DataElement(tag: .pixelRepresentation, uint16: [0]))
        ds.set(DataElement(tag: .samplesPerPixel, uint16: [1]))
        ds.set(.photometricInterpretation, .CS, "MONOCHROME2")
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes([1, 0, 2, 0, 3, 0, 4, 0])))
        return ds
    }

    public var bytes: [UInt8] { try! DICOMWriter.encodeFile(dataSet) }
}

extension ArchiveQuery {
    /// A query from `(tag, value)` pairs, VRs from the dictionary.
    public static func keys(_ level: QueryLevel, _ pairs: [(DICOM.Tag, String)], fuzzy: Bool = false) -> ArchiveQuery {
        ArchiveQuery(level: level, keys: pairs.map { tag, value in
            let vr = DataDictionary.shared.vr(for: tag)
            return QueryKey(tag: tag, vr: vr, constraint: MatchConstraint(query: value, vr: vr))
        }, fuzzyPersonNames: fuzzy)
    }
}

/// A file pydicom ships (its bundled test data; nothing is downloaded).
public func pydicomTestFile(_ name: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import os, pydicom; print(os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files', '\(name)'))"]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let path = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    process.waitUntilExit()
    return path
}
