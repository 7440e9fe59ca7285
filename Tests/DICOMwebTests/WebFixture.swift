import Access
import Archive
@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoupeTestSupport
import Testing
import Web

/// Swift Testing has a `Tag` of its own; in these tests it is the DICOM one.
typealias Tag = DICOM.Tag

/// An archive with a few instances, served in-process (HummingbirdTesting, no sockets).
final class WebFixture: @unchecked Sendable {
    let store: TemporaryArchive
    let service: DICOMwebService
    let access: AccessControl
    /// An admin's API token, which `test` sends with every request.
    let adminToken: String
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
        (access, adminToken) = try testAccess(store.archive)
        service = DICOMwebService(archive: store.archive, access: access,
                                  configuration: DICOMwebConfiguration(corsOrigins: corsOrigins, baseURL: "http://pacs.test/dicom-web"))
    }

    func path(_ r: IngestResult) -> String {
        "/dicom-web/studies/\(r.studyInstanceUID)/series/\(r.seriesInstanceUID)/instances/\(r.sopInstanceUID)"
    }

    /// The node's router: DICOMweb, the API and the screens.
    func router() throws -> Router<LoupeRequestContext> {
        let router = service.router()
        try WebScreens(root: service.rootPrefix, archive: store.archive).addRoutes(to: router)
        return router
    }

    /// Runs requests against the router, as the admin (`token` nil: requests go as they are given).
    func test(token: String?? = .none, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: try router())
        let credential = token ?? adminToken
        try await app.test(.router) { client in try await body(AuthorizedClient(client: client, token: credential)) }
    }
}

/// An access control on a test archive, and the secret of an admin token on it.
func testAccess(_ archive: Archive, roles: [String: [String]] = [:]) throws -> (AccessControl, String) {
    let access = AccessControl(archive: archive, configuration: AccessConfiguration(roles: try RoleCatalog(definitions: roles)))
    let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .tokenChanged)
    let (_, secret) = try access.createToken(name: "test-admin-\(UUID().uuidString.prefix(8))", roles: ["admin"], actor: actor)
    return (access, secret)
}

/// A test client that sends a bearer token with every request that has no Authorization header.
struct AuthorizedClient: TestClientProtocol {
    let client: any TestClientProtocol
    let token: String?

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if let token, headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    var port: Int? { client.port }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(buffer: body)) }
    var objects: [[String: Any]] { (json as? [[String: Any]]) ?? [] }

    /// The parts of a multipart response.
    func parts() throws -> [Multipart.Part] {
        let type = try #require(headers[.contentType])
        let boundary = try Multipart.boundary(of: type)
        return try Multipart.parse(body, boundary: boundary, maximumParts: .max)
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
