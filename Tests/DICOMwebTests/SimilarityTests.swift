import Archive
@testable import DICOMweb
import DICOM
import Featurizer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Imaging
import LoupeTestSupport
import Testing

/// An archive of pydicom images with embeddings, a similarity search over it, and its routes.
final class SimilarityFixture: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let embedder: Embedder? = (try? EfficientNetLite0(weights: repository.appendingPathComponent("models/efficientnet-lite0.weights")))
        .map { Embedder(network: $0) }

    let store: TemporaryArchive
    let embedder: Embedder
    /// MR_small; its copy in the same series; another copy for another patient and series.
    let mr: String, mrSameSeries: String, mrOtherPatient: String
    let ct: String, photo: String

    init() throws {
        embedder = try #require(Self.embedder, "model weights missing: run `make model`")
        store = try TemporaryArchive(policy: .replace, derivation: DerivationPolicy(processors: ["embedding"]))
        let mrFile = try DICOMReader.read(contentsOf: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm")))
        mr = try #require(mrFile.sopInstanceUID)
        try store.store(Array(try Data(contentsOf: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm")))))
        var copy = mrFile.dataSet
        mrSameSeries = UID.generate()
        copy.set(.sopInstanceUID, .UI, mrSameSeries)
        try store.store(try DICOMWriter.encodeFile(copy))
        mrOtherPatient = UID.generate()
        copy.set(.sopInstanceUID, .UI, mrOtherPatient)
        copy.set(.seriesInstanceUID, .UI, UID.generate())
        copy.set(.studyInstanceUID, .UI, UID.generate())
        copy.set(.patientID, .LO, "OTHER")
        try store.store(try DICOMWriter.encodeFile(copy))
        ct = try store.archive.importFile(at: URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm")), source: IngestSource(origin: "TEST")).sopInstanceUID
        photo = try store.archive.importFile(at: URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm")),
                                             source: IngestSource(origin: "TEST")).sopInstanceUID
        try deriveEmbeddings()
    }

    /// Runs the due embedding jobs as the node's workers would.
    func deriveEmbeddings() throws {
        while let claim = try store.archive.claimDerivations() {
            let vector = try embedder.embed(file: claim.input.fileURL)
            try store.archive.completeDerivation(claim, processor: "embedding",
                                                 .success(.embedded(Embedding(model: embedder.modelID, vector: vector))))
        }
    }

    func search(hnswThreshold: Int = 1000) throws -> SimilaritySearch {
        try SimilaritySearch(archive: store.archive, embedder: embedder, configuration: configuration(hnswThreshold: hnswThreshold))
    }

    func configuration(hnswThreshold: Int = 1000) -> SimilarityConfiguration {
        SimilarityConfiguration(dataDirectory: store.directory, model: embedder.modelID,
                                index: VectorIndex.Configuration(dimension: EfficientNetLite0.featureCount, hnswThreshold: hnswThreshold))
    }

    func test(_ provider: SimilarityProvider, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let (access, token) = try testAccess(store.archive)
        let service = DICOMwebService(archive: store.archive, access: access, configuration: DICOMwebConfiguration(baseURL: "http://pacs.test/dicom-web"),
                                      similarity: provider)
        try await Application(router: service.router()).test(.router) { client in try await body(AuthorizedClient(client: client, token: token)) }
    }
}

@Suite(.serialized) struct SimilarityTests {
    let fixture: SimilarityFixture

    init() throws { fixture = try SimilarityFixture() }

    func results(_ response: TestResponse) -> [[String: Any]] {
        ((response.json as? [String: Any])?["results"] as? [[String: Any]]) ?? []
    }

    @Test func similarToAnArchivedInstance() async throws {
        let f = fixture
        try await f.test(SimilarityProvider(try f.search())) { client in
            try await client.execute(uri: "/api/similar?instance=\(f.mr)&k=3", method: .get) { response in
                #expect(response.status == .ok)
                let found = self.results(response)
                #expect(found.count == 3)
                // The two copies (identical pixels) first, the query itself left out.
                #expect(Set(found.prefix(2).compactMap { $0["SOPInstanceUID"] as? String }) == [f.mrSameSeries, f.mrOtherPatient])
                #expect(found.allSatisfy { $0["SOPInstanceUID"] as? String != f.mr })
                #expect((found[0]["score"] as? Double ?? 0) > 0.999)
                #expect((found[2]["score"] as? Double ?? 1) < 0.9)
                let first = found[0]
                #expect(first["Modality"] as? String == "MR" && first["StudyInstanceUID"] is String && first["SeriesInstanceUID"] is String)
                let uid = first["SOPInstanceUID"] as? String ?? ""
                #expect((first["thumbnail"] as? String)?.hasPrefix("http://pacs.test/dicom-web/studies/") == true)
                #expect((first["thumbnail"] as? String)?.hasSuffix("/instances/\(uid)/thumbnail") == true)
                #expect(first["derived"] as? String == "/api/derived/\(uid).png")
                #expect((response.json as? [String: Any])?["model"] as? String == f.embedder.modelID)
            }
            try await client.execute(uri: "/api/similar?instance=\(f.mr)&k=10&exclude-same-series=true", method: .get) { response in
                let uids = self.results(response).compactMap { $0["SOPInstanceUID"] as? String }
                #expect(uids.first == f.mrOtherPatient && !uids.contains(f.mrSameSeries) && uids.count == 3)
            }
            try await client.execute(uri: "/api/similar?instance=\(f.mr)&modality=CT", method: .get) { response in
                #expect(self.results(response).compactMap { $0["SOPInstanceUID"] as? String } == [f.ct])
            }
            try await client.execute(uri: "/api/similar?instance=\(f.mr)&patient=OTHER", method: .get) { response in
                #expect(self.results(response).compactMap { $0["SOPInstanceUID"] as? String } == [f.mrOtherPatient])
            }
            for (uri, status) in [("/api/similar?instance=1.2.3", HTTPResponse.Status.notFound), ("/api/similar", .badRequest),
                                  ("/api/similar?instance=\(f.mr)&k=0", .badRequest), ("/api/similar?instance=\(f.mr)&k=x", .badRequest),
                                  ("/api/similar?instance=\(f.mr)&exclude-same-series=maybe", .badRequest)] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == status, "\(uri)")
                    #expect(response.text.contains("message"))
                }
            }
        }
    }

    @Test func similarToAnUploadedImage() async throws {
        let f = fixture
        let mrPNG = try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm")), RenderRequest(format: .png)).bytes
        // The photo's own JPEG stream (baseline, in the file's single fragment).
        let photoFile = try DICOMReader.read(contentsOf: URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm")))
        guard case .fragments(_, let fragments)? = photoFile.dataSet[.pixelData]?.value else {
            Issue.record("no encapsulated pixel data")
            return
        }
        let jpeg = fragments[0]
        let dicom = try Data(contentsOf: URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm")))
        try await f.test(SimilarityProvider(try f.search())) { client in
            for (type, body, expected) in [("image/png", mrPNG, f.mr), ("image/jpeg", jpeg, f.photo), ("application/dicom", Array(dicom), f.ct)] {
                try await client.execute(uri: "/api/similar?k=4", method: .post, headers: headers([("Content-Type", type)]),
                                         body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == .ok, "\(type)")
                    let top = self.results(response).first
                    if expected == f.mr {  // the MR and its two copies score the same
                        #expect(self.results(response).prefix(3).contains { $0["SOPInstanceUID"] as? String == f.mr }, "\(type)")
                    } else {
                        #expect(top?["SOPInstanceUID"] as? String == expected, "\(type)")
                    }
                    #expect((top?["score"] as? Double ?? 0) > 0.98, "\(type)")
                }
            }
            // A multipart form (curl -F) with the JPEG, filtered to the MRs.
            let boundary = "loupe-test-boundary"
            let form = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".utf8)
                + jpeg + Array("\r\n--\(boundary)--\r\n".utf8)
            try await client.execute(uri: "/api/similar?k=10&modality=MR", method: .post,
                                     headers: headers([("Content-Type", "multipart/form-data; boundary=\(boundary)")]),
                                     body: ByteBuffer(bytes: form)) { response in
                #expect(response.status == .ok)
                #expect(Set(self.results(response).compactMap { $0["Modality"] as? String }) == ["MR"])
                #expect(self.results(response).count == 3)
            }
            for (type, body, status) in [("text/plain", Array("hello".utf8), HTTPResponse.Status.unsupportedMediaType),
                                         ("image/png", Array("hello".utf8), .unprocessableContent),
                                         ("image/jpeg", Array(jpeg.prefix(200)), .unprocessableContent),
                                         ("application/dicom", Array(dicom.prefix(400)), .unprocessableContent)] {
                try await client.execute(uri: "/api/similar", method: .post, headers: headers([("Content-Type", type)]),
                                         body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == status, "\(type) \(body.count) bytes")
                    #expect(response.text.contains("message"))
                }
            }
        }
    }

    @Test func unavailableOrLoadingAnswers503() async throws {
        try await fixture.test(SimilarityProvider()) { client in
            try await client.execute(uri: "/api/similar?instance=\(self.fixture.mr)", method: .get) { response in
                #expect(response.status == .serviceUnavailable && response.text.contains("loading"))
            }
        }
        try await fixture.test(SimilarityProvider(unavailable: "no model weights")) { client in
            try await client.execute(uri: "/api/similar", method: .post, headers: headers([("Content-Type", "image/png")])) { response in
                #expect(response.status == .serviceUnavailable && response.text.contains("no model weights"))
            }
        }
    }

    @Test func indexFollowsTheArchiveAcrossRestarts() throws {
        let f = fixture
        let search = try f.search(hnswThreshold: 3)
        #expect(search.count == 5 && search.index.isApproximate)
        try search.saveIfChanged()
        let saved = f.configuration().indexURL
        #expect(FileManager.default.fileExists(atPath: saved.path))

        // A new instance is searchable as soon as its embedding is stored.
        let ctFile = try DICOMReader.read(contentsOf: URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm")))
        var newCT = ctFile.dataSet
        let newUID = UID.generate()
        newCT.set(.sopInstanceUID, .UI, newUID)
        try f.store.store(try DICOMWriter.encodeFile(newCT))
        try f.deriveEmbeddings()
        #expect(try search.similar(toInstance: f.ct, k: 1, filter: SimilarityFilter()).first?.instance.sopInstanceUID == newUID)

        // Replaced meanwhile: the old vector is never returned, the new one is.
        var replaced = newCT
        replaced.set(.instanceNumber, .IS, "7")
        try f.store.store(try DICOMWriter.encodeFile(replaced))
        #expect(try search.similar(toInstance: f.ct, k: 10, filter: SimilarityFilter()).allSatisfy { $0.instance.sopInstanceUID != newUID })
        try f.deriveEmbeddings()
        #expect(try search.similar(toInstance: f.ct, k: 1, filter: SimilarityFilter()).first?.instance.sopInstanceUID == newUID)

        // Reopened from the saved file (which predates the new CT): brought up to date.
        let reopened = try f.search(hnswThreshold: 3)
        #expect(reopened.count == 6)
        #expect(try reopened.similar(toInstance: f.ct, k: 1, filter: SimilarityFilter()).first?.instance.sopInstanceUID == newUID)
        try reopened.saveIfChanged()

        // A saved index that lacks embeddings it should hold is stale: rebuilt.
        let empty = try VectorIndex(configuration: f.configuration().index)
        try empty.add(ids: [1_000_000], vectors: [[Float](repeating: 0.03, count: EfficientNetLite0.featureCount)])
        try empty.save(to: saved)
        #expect(try f.search().count == 6)
        // An unreadable one too.
        try Data("garbage".utf8).write(to: saved)
        let rebuilt = try f.search()
        #expect(rebuilt.count == 6)
        #expect(try rebuilt.similar(toInstance: f.mr, k: 1, filter: SimilarityFilter()).first?.score ?? 0 > 0.999)
    }
}
