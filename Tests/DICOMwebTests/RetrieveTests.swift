@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct RetrieveTests {
    let fixture: WebFixture
    init() throws { fixture = try WebFixture() }

    @Test func studyAsStoredWithAnyTransferSyntax() async throws {
        let a = fixture.a1
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=*")])) { response in
                #expect(response.status == .ok)
                let parts = try response.parts()
                #expect(parts.count == 2)
                let bytes = Set(parts.map { Array($0.body.readableBytesView) })
                #expect(bytes == [fixture.a1.bytes, fixture.a2.bytes])
                #expect(parts.allSatisfy { $0.contentType?.contains("transfer-syntax=1.2.840.10008.1.2.1") == true })
            }
        }
    }

    @Test func compressedInstanceConvertedWhenNotAskedAsStored() async throws {
        let jpeg = fixture.jpeg
        try await fixture.test { client in
            try await client.execute(uri: fixture.path(jpeg), method: .get,
                                     headers: headers([("Accept", "multipart/related; type=application/dicom")])) { response in
                #expect(response.status == .ok)
                let part = try #require(try response.parts().first)
                let file = try DICOMReader.read(Array(part.body.readableBytesView))
                #expect(file.transferSyntax == .explicitVRLittleEndian)
                #expect(file.sopInstanceUID == jpeg.sopInstanceUID)
            }
            try await client.execute(uri: fixture.path(jpeg), method: .get,
                                     headers: headers([("Accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=*")])) { response in
                let part = try #require(try response.parts().first)
                #expect(Array(part.body.readableBytesView) == Array(try Data(contentsOf: fixture.store.archive.instance(sopInstanceUID: jpeg.sopInstanceUID)!.fileURL)))
            }
        }
    }

    @Test func unknownAndUnacceptable() async throws {
        let a = fixture.a1
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies/1.2.3", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/series/1.2.3", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)", method: .get, headers: headers([("Accept", "text/html")])) { response in
                #expect(response.status == .notAcceptable)
            }
        }
    }

    @Test func seriesMetadataFromTheIndexWithBulkDataURIsAndGzip() async throws {
        let a = fixture.a1
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/series/\(a.seriesUID)/metadata", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/dicom+json")
                let instances = response.objects
                #expect(instances.count == 2)
                #expect(Set(instances.compactMap { value($0, .sopInstanceUID) as? String }) == [a.sopUID, fixture.a2.sopUID])
                let bulk = (instances[0][Tag.pixelData.hex] as? [String: Any])?["BulkDataURI"] as? String
                #expect(bulk?.hasPrefix("http://pacs.test/dicom-web/studies/\(a.studyUID)/series/\(a.seriesUID)/instances/") == true)
                #expect(bulk?.hasSuffix("/bulkdata/7FE00010") == true)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/metadata", method: .get,
                                     headers: headers([("Accept-Encoding", "gzip, deflate")])) { response in
                #expect(response.headers[.contentEncoding] == "gzip")
                #expect(Array(response.body.readableBytesView.prefix(2)) == [0x1F, 0x8B])
            }
            try await client.execute(uri: "/dicom-web/studies/1.2.3/metadata", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func framesNativeCompressedAndDecoded() async throws {
        let (ct, jpeg, rle) = (fixture.ct, fixture.jpeg, fixture.rle)
        let ctFile = try DICOMReader.read(contentsOf: fixture.ctFile)
        try await fixture.test { client in
            try await client.execute(uri: fixture.path(ct) + "/frames/1", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*")])) { response in
                #expect(response.status == .ok)
                let part = try #require(try response.parts().first)
                #expect(Array(part.body.readableBytesView) == ctFile.dataSet[.pixelData]?.bytes)
                #expect(response.headers[.contentType]?.contains("transfer-syntax=1.2.840.10008.1.2.1") == true)
            }
            // Stored JPEG, taken as stored: the JPEG codestream.
            try await client.execute(uri: fixture.path(jpeg) + "/frames/1", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=application/octet-stream; transfer-syntax=*")])) { response in
                let part = try #require(try response.parts().first)
                #expect(Array(part.body.readableBytesView.prefix(2)) == [0xFF, 0xD8])
                #expect(part.contentType == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50")
            }
            // Not taken as stored: decoded to native RGB.
            try await client.execute(uri: fixture.path(jpeg) + "/frames/1", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=application/octet-stream")])) { response in
                let part = try #require(try response.parts().first)
                let file = try DICOMReader.read(contentsOf: fixture.jpegFile, options: .headerOnly)
                #expect(part.body.readableBytes == (file.dataSet.integer(.rows) ?? 0) * (file.dataSet.integer(.columns) ?? 0) * 3)
            }
            try await client.execute(uri: fixture.path(jpeg) + "/frames/1", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=image/jpeg")])) { response in
                #expect(response.status == .ok)
                let got10 = try response.parts().first?.contentType?.hasPrefix("image/jpeg")
                #expect(got10 == true)
            }
            try await client.execute(uri: fixture.path(rle) + "/frames/1,2", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=application/octet-stream; transfer-syntax=*")])) { response in
                let got11 = try response.parts().count
                #expect(got11 == 2)
            }
            try await client.execute(uri: fixture.path(rle) + "/frames/3", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: fixture.path(rle) + "/frames/0", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: fixture.path(ct) + "/frames/1", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=image/jpeg")])) { response in
                #expect(response.status == .notAcceptable)
            }
        }
    }

    @Test func bulkData() async throws {
        let ct = fixture.ct
        let ctFile = try DICOMReader.read(contentsOf: fixture.ctFile)
        try await fixture.test { client in
            try await client.execute(uri: fixture.path(ct) + "/bulkdata/7FE00010", method: .get) { response in
                #expect(response.status == .ok)
                let parts = try response.parts()
                #expect(Array(parts[0].body.readableBytesView) == ctFile.dataSet[.pixelData]?.bytes)
            }
            try await client.execute(uri: fixture.path(ct) + "/bulkdata/00100010", method: .get) { response in
                let parts = try response.parts()
                #expect(String(buffer: parts[0].body).hasPrefix("CompressedSamples^CT1"))
            }
            try await client.execute(uri: fixture.path(ct) + "/bulkdata/00991234", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
