@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

@Suite struct FindingReviewTests {
    static let reviewer = AuditRecord(actor: "dr-rossi", actorKind: .session, address: "10.0.0.7", action: .findingReviewed)

    @Test func theQueueListsFlaggedImagesNewestFirstUntilReviewed() throws {
        let store = try TemporaryArchive(derivation: FindingStoreTests.policy)
        let first = Instance(patientID: "Q1"), second = Instance(patientID: "Q2"), fine = Instance(patientID: "Q3")
        for instance in [first, second, fine] { try store.store(instance.bytes) }
        // Claimed in arrival order: `second` is flagged after `first`, so it is newer.
        for _ in 0..<3 {
            let claim = try #require(try store.archive.claimDerivations())
            let bad = claim.input.sopInstanceUID != fine.sopUID
            try store.archive.completeDerivation(claim, processor: "anomaly", .success(.found(try Finding(
                kind: "anomaly", label: bad ? "invalid" : "valid", probability: 0.8, reason: bad ? "screenshot" : nil, model: "anomaly/v1",
                details: ["score": 2]))))
        }
        var queue = FindingSelection()
        (queue.kind, queue.label, queue.reviewed) = ("anomaly", "invalid", false)
        let page = try store.archive.findings(queue)
        #expect(page.items.map(\.sopInstanceUID) == [second.sopUID, first.sopUID] && page.total == 2 && page.remaining == 2)
        #expect(page.items[0].patientID == "Q2" && page.items[0].reason == "screenshot" && page.items[0].review == nil)
        #expect(page.items[0].studyInstanceUID == second.studyUID && page.items[0].score == 2)

        let reviewed = try #require(try store.archive.review(sopInstanceUID: second.sopUID, kind: "anomaly", verdict: .falseAlarm,
                                                             note: "a real CT", audit: Self.reviewer))
        #expect(reviewed.review?.verdict == .falseAlarm && reviewed.review?.reviewer == "dr-rossi" && reviewed.review?.model == "anomaly/v1")
        let after = try store.archive.findings(queue)
        #expect(after.items.map(\.sopInstanceUID) == [first.sopUID] && after.total == 1 && after.remaining == 1)
        queue.reviewed = true
        #expect(try store.archive.findings(queue).items.map { $0.review?.note } == ["a real CT"])
        // A second verdict replaces the first; the trail keeps both.
        _ = try store.archive.review(sopInstanceUID: second.sopUID, kind: "anomaly", verdict: .confirmed, note: nil, audit: Self.reviewer)
        #expect(try store.archive.findings(queue).items.map { $0.review?.verdict } == [.confirmed])
        let trail = try store.archive.audit(AuditFilter(action: .findingReviewed))
        #expect(trail.count == 2 && trail.allSatisfy { $0.patientID == "Q2" && $0.actor == "dr-rossi" })

        // No finding of that kind: nothing recorded.
        #expect(try store.archive.review(sopInstanceUID: second.sopUID, kind: "lesion", verdict: .confirmed, note: nil, audit: Self.reviewer) == nil)
        #expect(try store.archive.review(sopInstanceUID: "1.2.3.4", kind: "anomaly", verdict: .confirmed, note: nil, audit: Self.reviewer) == nil)
        #expect(try store.archive.audit(AuditFilter(action: .findingReviewed)).count == 2)

        // A patient's findings; limits by patient and modality.
        var patient = FindingSelection()
        patient.patientID = "Q3"
        #expect(try store.archive.findings(patient).items.map(\.label) == ["valid"])
        var limited = FindingSelection()
        limited.patients = ["Q1"]
        #expect(try store.archive.findings(limited).items.map(\.patientID) == ["Q1"])
        limited.modalities = ["XC"]
        #expect(try store.archive.findings(limited).items.isEmpty)
    }

    @Test func verdictsOutliveANewRunOfTheModel() throws {
        let store = try TemporaryArchive(derivation: FindingStoreTests.policy)
        let flagged = Instance()
        try store.store(flagged.bytes)
        try FindingStoreTests.classify(store, flagged: flagged, count: 1)
        _ = try store.archive.review(sopInstanceUID: flagged.sopUID, kind: "anomaly", verdict: .confirmed, note: nil, audit: Self.reviewer)
        try store.archive.requeueDerivations(.all)
        try FindingStoreTests.classify(store, flagged: flagged, count: 1)
        var all = FindingSelection()
        all.reviewed = true
        #expect(try store.archive.findings(all).items.map { $0.review?.verdict } == [.confirmed])
    }
}
