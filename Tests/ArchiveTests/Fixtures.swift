import Archive
import DICOM
import Foundation

/// Swift Testing has a `Tag` of its own; in these tests it is the DICOM one.
typealias Tag = DICOM.Tag

/// A fresh archive in a temporary directory, removed when the test is done.
final class TemporaryArchive {
    let directory: URL
    private(set) var archive: Archive

    init(policy: DuplicatePolicy = .keep) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-archive-\(UUID().uuidString)")
        archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: policy))
    }

    /// Closes and reopens the archive on the same directory (a restart).
    func reopen(policy: DuplicatePolicy = .keep) throws {
        archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: policy))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Stages Part-10 bytes as a writer would and ingests them.
    @discardableResult
    func store(_ bytes: [UInt8], origin: String = "TEST") throws -> IngestResult {
        let staged = archive.stagingURL(prefix: "test")
        try Data(bytes).write(to: staged)
        return try archive.ingest(staged: staged, source: IngestSource(origin: origin))
    }

    func storedFiles() -> [URL] {
        let root = directory.appendingPathComponent("files")
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "dcm" }
    }

    func stagedFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("tmp").path)) ?? []
    }
}

/// A small CT instance with the attributes the index cares about.
struct Instance {
    var patientID = "P1"
    var patientName = "DOE^JOHN"
    var birthDate = "19700101"
    var sex = "M"
    var studyUID = UID.generate()
    var studyDate = "20230115"
    var studyTime = "101500"
    var accession = "A1"
    var studyDescription = "CHEST"
    var referring = "HOUSE^GREGORY"
    var seriesUID = UID.generate()
    var modality = "CT"
    var seriesNumber = 1
    var sopUID = UID.generate()
    var sopClass = "1.2.840.10008.5.1.4.1.1.2"
    var instanceNumber = 1
    var characterSet: String? = nil

    var dataSet: DataSet {
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
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes([1, 0, 2, 0, 3, 0, 4, 0])))
        return ds
    }

    var bytes: [UInt8] { try! DICOMWriter.encodeFile(dataSet) }
}

extension ArchiveQuery {
    /// A query from `(tag, value)` pairs, VRs from the dictionary.
    static func keys(_ level: QueryLevel, _ pairs: [(Tag, String)], fuzzy: Bool = false) -> ArchiveQuery {
        ArchiveQuery(level: level, keys: pairs.map { tag, value in
            let vr = DataDictionary.shared.vr(for: tag)
            return QueryKey(tag: tag, vr: vr, constraint: MatchConstraint(query: value, vr: vr))
        }, fuzzyPersonNames: fuzzy)
    }
}
