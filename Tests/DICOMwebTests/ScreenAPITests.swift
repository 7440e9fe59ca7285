import Access
import Archive
@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The JSON the screens use beyond DICOMweb: findings and their review, the flush watch, admin.
@Suite struct ScreenAPITests {
    let fixture: WebFixture
    let tokens: [String: String]
    static let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .tokenChanged)

    init() throws {
        fixture = try WebFixture()
        var tokens: [String: String] = [:]
        for role in ["radiologist", "researcher", "nurse", "clinician"] {
            tokens[role] = try fixture.access.createToken(name: "s-\(role)", roles: [role], actor: Self.actor).secret
        }
        self.tokens = tokens
    }

    /// Flags `flagged` (invalid: overlay) and finds every other queued instance valid; or fails them all.
    func classify(flagging flagged: Set<String>, fail: Bool = false) throws {
        let archive = fixture.store.archive
        while let claim = try archive.claimDerivations() {
            if fail {
                try archive.completeDerivation(claim, processor: "png", .failure(DerivationFailure("cannot render", permanent: true)))
                continue
            }
            let bad = flagged.contains(claim.input.sopInstanceUID)
            try archive.completeDerivation(claim, processor: "png", .success(.found(try Finding(
                kind: "anomaly", label: bad ? "invalid" : "valid", probability: 0.93, reason: bad ? "overlay" : nil, model: "anomaly/t",
                details: ["score": 1]))))
        }
    }

    @Test func theReviewQueueShrinksAsVerdictsAreGiven() async throws {
        try classify(flagging: [fixture.a1.sopUID, fixture.b1.sopUID])
        let queue = "/api/findings?kind=anomaly&label=invalid&reviewed=false"
        try await fixture.test(token: tokens["radiologist"]) { client in
            let before = try await client.execute(uri: queue, method: .get)
            let page = try #require(before.json as? [String: Any])
            let items = try #require(page["items"] as? [[String: Any]])
            #expect(page["remaining"] as? Int == 2 && items.count == 2 && items.allSatisfy { $0["reason"] as? String == "overlay" })
            #expect(Set(items.compactMap { $0["PatientName"] as? String }) == ["Müller^Jörg", "DOE^JOHN"])

            let uid = fixture.a1.sopUID
            let json: HTTPFields = [.contentType: "application/json"]
            let reviewed = try await client.execute(uri: "/api/findings/\(uid)/review", method: .post, headers: json,
                                                    body: ByteBuffer(string: #"{"verdict": "false-alarm", "note": "burned-in text"}"#))
            let review = try #require((reviewed.json as? [String: Any])?["review"] as? [String: Any])
            #expect(reviewed.status == .ok && review["verdict"] as? String == "false-alarm" && review["reviewer"] as? String == "s-radiologist")
            let after = try #require(try await client.execute(uri: queue, method: .get).json as? [String: Any])
            #expect(after["remaining"] as? Int == 1 && (after["items"] as? [[String: Any]])?.first?["SOPInstanceUID"] as? String == fixture.b1.sopUID)

            // A form (a page without script) works too; bad verdicts and unknown instances are told apart.
            let form = try await client.execute(uri: "/api/findings/\(fixture.b1.sopUID)/review", method: .post,
                                                headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "verdict=confirmed"))
            #expect(form.status == .ok)
            let wrong = try await client.execute(uri: "/api/findings/\(uid)/review", method: .post, headers: json,
                                                 body: ByteBuffer(string: #"{"verdict": "maybe"}"#))
            #expect(wrong.status == .badRequest && wrong.text.contains("confirmed or false-alarm"))
            let garbage = try await client.execute(uri: "/api/findings/\(uid)/review", method: .post, headers: json, body: ByteBuffer(string: "[1"))
            #expect(garbage.status == .badRequest)
            let unknown = try await client.execute(uri: "/api/findings/1.2.3.999/review", method: .post, headers: json,
                                                   body: ByteBuffer(string: #"{"verdict": "confirmed"}"#))
            #expect(unknown.status == .notFound)
        }
        // Who may not review cannot; who may not see names does not.
        try await fixture.test(token: tokens["researcher"]) { client in
            let refused = try await client.execute(uri: "/api/findings/\(fixture.a1.sopUID)/review", method: .post,
                                                   headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"verdict": "confirmed"}"#))
            #expect(refused.status == .forbidden)
            let page = try #require(try await client.execute(uri: "/api/findings?reviewed=true", method: .get).json as? [String: Any])
            let items = try #require(page["items"] as? [[String: Any]])
            #expect(items.count == 2 && items.allSatisfy { $0["PatientName"] == nil && $0["PatientID"] != nil })
        }
        let trail = try fixture.store.archive.audit(AuditFilter(action: .findingReviewed))
        #expect(trail.map(\.actor) == ["s-radiologist", "s-radiologist"] && Set(trail.compactMap(\.patientID)) == ["WEB1", "WEB2"])
    }

    @Test func theWardShowsTodaysFlushPhotosPerPatient() async throws {
        let photo = PhotoSubmission(patientID: "BED-4", patientName: "Rossi^Anna", kind: .flush, baseline: true)
        let pixels = SecondaryCapture.Pixels.rgb(columns: 4, rows: 4, pixels: [UInt8](repeating: 180, count: 48))
        let stored = try fixture.store.archive.ingestPhoto(pixels, photo)
        try await fixture.test(token: tokens["nurse"]) { client in
            let today = try #require(try await client.execute(uri: "/api/ward", method: .get).json as? [String: Any])
            let episodes = try #require(today["episodes"] as? [[String: Any]])
            #expect(today["day"] as? String == Archive.dicomDate(Date(), .current))
            #expect(episodes.count == 1 && episodes[0]["PatientID"] as? String == "BED-4" && episodes[0]["PatientName"] as? String == "Rossi^Anna")
            let photos = try #require(episodes[0]["photos"] as? [[String: Any]])
            #expect(photos.count == 1 && photos[0]["SOPInstanceUID"] as? String == stored.sopInstanceUID && photos[0]["level"] == nil)
            let one = try #require(try await client.execute(uri: "/api/ward?PatientID=BED-4&date=\(Archive.dicomDate(Date(), .current))",
                                                            method: .get).json as? [String: Any])
            #expect((one["episodes"] as? [[String: Any]])?.count == 1)
            let other = try #require(try await client.execute(uri: "/api/ward?date=2001-01-01", method: .get).json as? [String: Any])
            #expect((other["episodes"] as? [[String: Any]])?.isEmpty == true)
            #expect(try await client.execute(uri: "/api/ward?date=yesterday", method: .get).status == .badRequest)
        }
        try await fixture.test(token: tokens["researcher"]) { client in
            let refused = try await client.execute(uri: "/api/ward", method: .get)
            #expect(refused.status == .forbidden)
        }
    }

    @Test func adminSeesFailuresRetriesThemAndListsAccounts() async throws {
        try classify(flagging: [], fail: true)
        try await fixture.test { client in
            let failed = try await client.execute(uri: "/api/derivations/failed", method: .get)
            #expect(failed.objects.count == 6 && failed.objects.allSatisfy { $0["processor"] as? String == "png" && $0["lastError"] as? String == "cannot render" })
            let one = try await client.execute(uri: "/api/derivations/retry", method: .post, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"instance": "\#(fixture.a1.sopUID)"}"#))
            #expect(one.json as? [String: Int] == ["requeued": 1])
            let rest = try await client.execute(uri: "/api/derivations/retry", method: .post)
            #expect(rest.json as? [String: Int] == ["requeued": 5])
            #expect(try await client.execute(uri: "/api/derivations/failed", method: .get).objects.isEmpty)
            let unknown = try await client.execute(uri: "/api/derivations/retry", method: .post, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"processor": "nope"}"#))
            #expect(unknown.status == .badRequest && unknown.text.contains("unknown processor"))

            let accounts = try await client.execute(uri: "/api/accounts", method: .get)
            let tokens = try #require((accounts.json as? [String: Any])?["tokens"] as? [[String: Any]])
            #expect(tokens.contains { $0["name"] as? String == "s-nurse" && $0["roles"] as? [String] == ["nurse"] })
            #expect(!accounts.text.contains("hash") && !accounts.text.contains("$argon2"))

            #expect(try await client.execute(uri: "/api/peers", method: .get).objects.isEmpty)
            #expect(try await client.execute(uri: "/api/peers/ORTHANC/echo", method: .post).status == .notFound)
        }
        try await fixture.test(token: tokens["clinician"]) { client in
            for (uri, method) in [("/api/derivations/failed", HTTPRequest.Method.get), ("/api/derivations/retry", .post), ("/api/accounts", .get),
                                  ("/api/peers", .get)] {
                let refused = try await client.execute(uri: uri, method: method)
                #expect(refused.status == .forbidden, "\(uri)")
            }
        }
    }
}
