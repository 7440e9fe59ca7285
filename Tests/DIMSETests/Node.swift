import Archive
import DICOM
import DIMSE
import Foundation
import Logging
import LoupeTestSupport

/// Swift Testing has a `Tag` of its own; in these tests it is the DICOM one.
typealias Tag = DICOM.Tag

/// A running DIMSE server on an ephemeral port over a temporary archive.
final class Node {
    let directory: URL
    let archive: Archive
    let server: DIMSEServer
    var port: UInt16 { server.port }
    var peer: DICOMPeer { DICOMPeer(name: server.configuration.aeTitle, aeTitle: server.configuration.aeTitle, host: "127.0.0.1", port: port) }
    private var stopped = false

    init(aeTitle: String = "LOUPE", configure: (inout DIMSEConfiguration) -> Void = { _ in }) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-dimse-\(UUID().uuidString)")
        archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory))
        var configuration = DIMSEConfiguration(aeTitle: aeTitle, port: 0)
        configure(&configuration)
        var logger = Logger(label: "test.dimse")
        logger.logLevel = .warning
        server = try DIMSEServer(configuration: configuration, archive: archive, logger: logger)
    }

    func stop(grace: Int = 5) {
        guard !stopped else { return }
        stopped = true
        server.stop(grace: grace)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs a DCMTK command-line tool (by full path: Python packages install commands of the same names).
@discardableResult
func dcmtk(_ tool: String, _ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Writes small CT instances to a directory; returns their files.
func writeInstances(_ count: Int, to directory: URL, patientName: String = "DOE^JOHN", studyUID: String = UID.generate()) throws -> [URL] {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let seriesUID = UID.generate()
    return try (1...count).map { n in
        var ds = DataSet()
        ds.set(.sopClassUID, .UI, "1.2.840.10008.5.1.4.1.1.2")
        ds.set(.sopInstanceUID, .UI, UID.generate())
        ds.set(.studyDate, .DA, "20230115")
        ds.set(.modality, .CS, "CT")
        ds.set(.patientName, .PN, patientName)
        ds.set(.patientID, .LO, "P-\(patientName.prefix(3))")
        ds.set(.studyInstanceUID, .UI, studyUID)
        ds.set(.seriesInstanceUID, .UI, seriesUID)
        ds.set(.instanceNumber, .IS, String(n))
        ds.set(DataElement(tag: .rows, uint16: [2]))
        ds.set(DataElement(tag: .columns, uint16: [2]))
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes((0..<8).map { UInt8(($0 + n) & 0xFF) })))
        let url = directory.appendingPathComponent("ct\(n).dcm")
        try Data(DICOMWriter.encodeFile(ds)).write(to: url)
        return url
    }
}

func temporaryDirectory(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The data set bytes of a Part-10 file (everything after the meta information).
func dataSetBytes(_ url: URL) throws -> [UInt8] {
    let data = try Data(contentsOf: url)
    let file = try DICOMReader.read(data, options: ReadOptions(stopAt: Tag(0x0008, 0x0000)))
    return Array(data[file.dataSetOffset...])
}

