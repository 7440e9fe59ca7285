import Archive
@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoupeTestSupport
import Testing

/// Swift Testing has a `Tag` of its own; in these tests it is the DICOM one.
typealias Tag = DICOM.Tag

/// An archive with a few instances, served in-process (HummingbirdTesting, no sockets).
final class WebFixture: @unchecked Sendable {
    let store: TemporaryArchive
    let service: DICOMwebService
    /// Generated CT instances: study A (2 instances, one series), study B (1 instance).
    let a1: Instance, a2: Instance, b1: Instance
    /// pydicom files: native CT, JPEG baseline colour, RLE 2-frame.
    let ct: IngestResult, jpeg: IngestResult, rle: IngestResult
    let ctFile: URL, jpegFile: URL, rleFile: URL

    init(corsOrigins: [String] = []) throws {
        store = try TemporaryArchive(derivation: DerivationPolicy(processors: ["png"]))
        var a = Instance(patientID: "WEB1", patientName: "Müller^Jörg", studyDate: "20230115", accession: "A1", studyDescription: "CHEST, PA")
        a.modality = "CT"
        a1 = a
        a.sopUID = UID.generate()
        a.instanceNumber = 2
        a2 = a
        var b = Instance(patientID: "WEB2", patientName: "DOE^JOHN", studyDate: "20240301", accession: "B1", studyDescription: "HEAD")
        b.modality = "MR"
        b1 = b
        for instance in [a1, a2, b1] { try store.store(instance.bytes) }
        ctFile = URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm"))
        jpegFile = URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm"))
        rleFile = URL(fileURLWithPath: try pydicomTestFile("SC_rgb_rle_2frame.dcm"))
        ct = try store.archive.importFile(at: ctFile, source: IngestSource(origin: "TEST"))
        jpeg = try store.archive.importFile(at: jpegFile, source: IngestSource(origin: "TEST"))
        rle = try store.archive.importFile(at: rleFile, source: IngestSource(origin: "TEST"))
        service = DICOMwebService(archive: store.archive, configuration: DICOMwebConfiguration(corsOrigins: corsOrigins, baseURL: "http://pacs.test/dicom-web"))
    }

    func path(_ r: IngestResult) -> String {
        "/dicom-web/studies/\(r.studyInstanceUID)/series/\(r.seriesInstanceUID)/instances/\(r.sopInstanceUID)"
    }

    /// Runs requests against the router.
    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: service.router())
        try await app.test(.router) { client in try await body(client) }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(buffer: body)) }
    var objects: [[String: Any]] { (json as? [[String: Any]]) ?? [] }

    /// The parts of a multipart response.
    func parts() throws -> [Multipart.Part] {
        let type = try #require(headers[.contentType])
        let boundary = try #require(Multipart.boundary(of: type))
        return try Multipart.parse(body, boundary: boundary)
    }
}

/// The first value of an attribute in a DICOM JSON object.
func value(_ object: [String: Any], _ tag: Tag) -> Any? {
    ((object[tag.hex] as? [String: Any])?["Value"] as? [Any])?.first
}

func headers(_ pairs: [(String, String)]) -> HTTPFields {
    var fields = HTTPFields()
    for (name, value) in pairs { fields[HTTPField.Name(name)!] = value }
    return fields
}
