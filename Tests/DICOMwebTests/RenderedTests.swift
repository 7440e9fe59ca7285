@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct RenderedTests {
    let fixture: WebFixture
    init() throws { fixture = try WebFixture() }

    /// Width and height from a PNG's IHDR chunk.
    static func pngSize(_ body: ByteBuffer) -> (Int, Int)? {
        let bytes = Array(body.readableBytesView)
        guard bytes.count > 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
        func be(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        return (be(16), be(20))
    }

    @Test func renderedPNGWithWindowAndViewport() async throws {
        let ct = fixture.ct
        try await fixture.test { client in
            try await client.execute(uri: fixture.path(ct) + "/rendered?window=40,400&viewport=64,64", method: .get,
                                     headers: headers([("Accept", "image/png")])) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/png")
                #expect(Self.pngSize(response.body).map { [$0.0, $0.1] } == [64, 64])
            }
            try await client.execute(uri: fixture.path(ct) + "/rendered", method: .get) { response in
                #expect(response.headers[.contentType] == "image/jpeg")
                #expect(Array(response.body.readableBytesView.prefix(2)) == [0xFF, 0xD8])
            }
            try await client.execute(uri: fixture.path(ct) + "/thumbnail", method: .get, headers: headers([("Accept", "image/png")])) { response in
                #expect(Self.pngSize(response.body).map { [$0.0, $0.1] } == [128, 128])
            }
        }
    }

    @Test func framesSeriesAndStudyThumbnails() async throws {
        let (rle, a) = (fixture.rle, fixture.a1)
        try await fixture.test { client in
            try await client.execute(uri: fixture.path(rle) + "/frames/2/rendered", method: .get, headers: headers([("Accept", "image/png")])) { response in
                #expect(response.status == .ok)
                #expect(Self.pngSize(response.body) != nil)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/series/\(a.seriesUID)/rendered", method: .get) { response in
                let got9 = try response.parts().count
                #expect(got9 == 2)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/series/\(a.seriesUID)/thumbnail", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/thumbnail", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func badRenderingRequests() async throws {
        let (ct, rle) = (fixture.ct, fixture.rle)
        try await fixture.test { client in
            for query in ["window=40", "window=40,-5", "window=40,400,cubic", "viewport=0,10", "quality=0"] {
                try await client.execute(uri: fixture.path(ct) + "/rendered?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                }
            }
            try await client.execute(uri: fixture.path(ct) + "/rendered", method: .get, headers: headers([("Accept", "application/json")])) { response in
                #expect(response.status == .notAcceptable)
            }
            try await client.execute(uri: fixture.path(rle) + "/frames/9/rendered", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func wadoURI() async throws {
        let ct = fixture.ct
        let query = "requestType=WADO&studyUID=\(ct.studyInstanceUID)&seriesUID=\(ct.seriesInstanceUID)&objectUID=\(ct.sopInstanceUID)"
        try await fixture.test { client in
            try await client.execute(uri: "/wado?\(query)&contentType=application/dicom", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/dicom")
                let stored = try #require(try fixture.store.archive.instance(sopInstanceUID: ct.sopInstanceUID))
                #expect(Array(response.body.readableBytesView) == Array(try Data(contentsOf: stored.fileURL)))
            }
            try await client.execute(uri: "/wado?\(query)", method: .get) { response in
                #expect(response.headers[.contentType] == "image/jpeg")
            }
            try await client.execute(uri: "/dicom-web/wado?\(query)&contentType=image/png&rows=32&columns=32", method: .get) { response in
                #expect(Self.pngSize(response.body).map { [$0.0, $0.1] } == [32, 32])
            }
            try await client.execute(uri: "/wado?studyUID=1&seriesUID=2&objectUID=3", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/wado?requestType=WADO&studyUID=1&seriesUID=2&objectUID=3", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
