@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import HummingbirdTesting
import LoupeTestSupport
import NIOCore
import Testing

@Suite struct StoreTests {
    let fixture: WebFixture
    init() throws { fixture = try WebFixture() }

    static func body(_ parts: [[UInt8]], boundary: String = "b0undary") -> (HTTPFields, ByteBuffer) {
        (headers([("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=\(boundary)")]),
         Multipart.body(boundary: boundary, parts: parts.map { ("application/dicom", $0) }))
    }

    @Test func goodPartsAreStoredAndACorruptOneFailsAlone() async throws {
        let new = Instance(patientID: "STOW", patientName: "STOW^ONE", modality: "OT")
        let second = { var i = new; i.sopUID = UID.generate(); return i }()
        let (fields, body) = Self.body([new.bytes, Array("definitely not DICOM".utf8), second.bytes])
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies", method: .post, headers: fields, body: body) { response in
                #expect(response.status == .accepted)
                let object = try #require(response.json as? [String: Any])
                let referenced = (object["00081199"] as? [String: Any])?["Value"] as? [[String: Any]] ?? []
                let failed = (object["00081198"] as? [String: Any])?["Value"] as? [[String: Any]] ?? []
                #expect(Set(referenced.compactMap { value($0, Tag(0x0008, 0x1155)) as? String }) == [new.sopUID, second.sopUID])
                #expect(failed.count == 1)
                #expect(value(failed[0], Tag(0x0008, 0x1197)) as? Int == 0xC000)
                #expect(value(object, Tag(0x0008, 0x1190)) as? String == "http://pacs.test/dicom-web/studies/\(new.studyUID)")
            }
            // Stored byte for byte.
            try await client.execute(uri: "/dicom-web/studies/\(new.studyUID)", method: .get,
                                     headers: headers([("Accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=*")])) { response in
                let parts = try response.parts()
                #expect(Set(parts.map { Array($0.body.readableBytesView) }) == [new.bytes, second.bytes])
            }
        }
    }

    @Test func statusCodes() async throws {
        let other = Instance()
        try await fixture.test { client in
            let (fields, nothing) = Self.body([Array("junk".utf8)])
            try await client.execute(uri: "/dicom-web/studies", method: .post, headers: fields, body: nothing) { response in
                #expect(response.status == .conflict)
            }
            // An instance of another study, posted to a study: refused, not stored.
            let (f2, wrongStudy) = Self.body([other.bytes])
            try await client.execute(uri: "/dicom-web/studies/1.2.3.4", method: .post, headers: f2, body: wrongStudy) { response in
                #expect(response.status == .conflict)
                let failed = ((response.json as? [String: Any])?["00081198"] as? [String: Any])?["Value"] as? [[String: Any]]
                #expect(failed.flatMap { value($0[0], Tag(0x0008, 0x1197)) as? Int } == 0xA900)
            }
            #expect(try fixture.store.archive.instance(sopInstanceUID: other.sopUID) == nil)
            try await client.execute(uri: "/dicom-web/studies", method: .post, headers: headers([("Content-Type", "application/json")]),
                                     body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unsupportedMediaType)
            }
            try await client.execute(uri: "/dicom-web/studies", method: .post, headers: headers([("Content-Type", "multipart/related; type=\"application/dicom\"")]),
                                     body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/dicom-web/studies", method: .post,
                                     headers: headers([("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=zz")]),
                                     body: ByteBuffer(string: "no delimiters here")) { response in
                #expect(response.status == .badRequest)
            }
            // RFC 2046 allows 70 characters; a longer boundary would make the delimiter search quadratic.
            let (longFields, longBody) = Self.body([other.bytes], boundary: String(repeating: "b", count: Multipart.maximumBoundaryLength + 1))
            try await client.execute(uri: "/dicom-web/studies", method: .post, headers: longFields, body: longBody) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("70 characters"))
            }
        }
    }
}

@Suite struct MultipartTests {
    @Test func roundTripAndLenientParsing() throws {
        let body = Multipart.body(boundary: "xyz", parts: [("application/dicom", [1, 2, 3]), ("text/plain", Array("--xy not a delimiter\r\n".utf8))])
        let parts = try Multipart.parse(body, boundary: "xyz", maximumParts: 2)
        #expect(parts.count == 2)
        #expect(throws: Multipart.ParseError.self) { try Multipart.parse(body, boundary: "xyz", maximumParts: 1) }
        #expect(Array(parts[0].body.readableBytesView) == [1, 2, 3])
        #expect(parts[1].contentType == "text/plain")
        #expect(String(buffer: parts[1].body) == "--xy not a delimiter\r\n")
        // A preamble and no final CRLF are tolerated.
        let loose = ByteBuffer(string: "preamble\r\n--q\r\nContent-Type: a/b\r\n\r\nhello\r\n--q--")
        #expect(try Multipart.parse(loose, boundary: "q", maximumParts: 1).map { String(buffer: $0.body) } == ["hello"])
    }

    @Test func boundaryLengthFollowsRFC2046() throws {
        let longest = String(repeating: "b", count: Multipart.maximumBoundaryLength)
        #expect(try Multipart.boundary(of: "multipart/related; boundary=\(longest)") == longest)
        #expect(throws: Multipart.ParseError.boundaryTooLong) { try Multipart.boundary(of: "multipart/related; boundary=\(longest)b") }
        #expect(throws: Multipart.ParseError.noBoundary) { try Multipart.boundary(of: "multipart/related; type=application/dicom") }
    }

    @Test func separatorsAreBytesEvenBeforeACombiningMark() {
        // "," + U+0301 is one Character to Swift; to HTTP it is a separator and a stray byte sequence.
        let header = "image/png,\u{301}image/jpeg;q=0.5"
        let ranges = MediaRange.parse(header)
        #expect(ranges.count == 2)
        #expect(ranges.first?.mediaType == "image/png")
        // Only spaces and tabs are trimmed, and a multi-byte value at the end stays whole.
        let accented = "\u{E9}"
        #expect(MediaRange.parse("text/plain;\tcharset = \(accented) \t").first?.parameters["charset"] == accented)
    }

    @Test func acceptHeaders() {
        let ohif = Accept("multipart/related; type=application/octet-stream; transfer-syntax=*")
        #expect(ohif.multipart(["application/octet-stream", "image/jpeg"])?.partType == "application/octet-stream")
        #expect(ohif.multipart(["application/octet-stream"])?.range.transferSyntax == "*")
        let quoted = Accept("multipart/related; type=\"image/jpeg\"; transfer-syntax=\"1.2.840.10008.1.2.4.50\", */*;q=0.5")
        #expect(quoted.multipart(["application/octet-stream", "image/jpeg"])?.partType == "image/jpeg")
        #expect(Accept("text/html").multipart(["application/dicom"]) == nil)
        #expect(Accept(nil).single("application/dicom+json") != nil)
        #expect(Accept("application/dicom+json;q=0, application/json").single("application/dicom+json") == nil)
    }
}
