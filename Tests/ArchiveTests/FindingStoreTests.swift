@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

@Suite struct FindingStoreTests {
    static let policy = DerivationPolicy(processors: ["anomaly"])

    /// Stores `flagged` as invalid (publishing its event) and `fine` as valid.
    static func classify(_ store: TemporaryArchive, flagged: Instance, count: Int) throws {
        for _ in 0..<count {
            let claim = try #require(try store.archive.claimDerivations())
            let bad = claim.input.sopInstanceUID == flagged.sopUID
            let finding = try Finding(kind: "anomaly", label: bad ? "invalid" : "valid", probability: 0.9, reason: bad ? "overlay" : nil,
                                      model: "anomaly/test", details: ["score": 1], publishing: bad ? "anomaly" : nil)
            try store.archive.completeDerivation(claim, processor: "anomaly", .success(.found(finding)))
        }
    }

    @Test func findingsAreStoredCountedAndQueried() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        let flagged = Instance(), fine = Instance()
        try store.store(flagged.bytes)
        try store.store(fine.bytes)
        try Self.classify(store, flagged: flagged, count: 2)

        let stats = try store.archive.statistics()
        #expect(stats.flagged == 1 && stats.findings == ["anomaly": ["invalid": 1, "valid": 1]])
        let stored = try #require(try store.archive.derivations(sopInstanceUID: flagged.sopUID)).findings
        #expect(stored.count == 1 && stored[0].finding.label == "invalid" && stored[0].finding.reason == "overlay")
        #expect(stored[0].finding.details == #"{"score":1}"# && stored[0].finding.model == "anomaly/test")

        let invalid = [FindingMatch(kind: "anomaly", label: "invalid")]
        for (level, tag, uid) in [(QueryLevel.image, Tag.sopInstanceUID, flagged.sopUID), (.series, .seriesInstanceUID, flagged.seriesUID),
                                  (.study, .studyInstanceUID, flagged.studyUID)] {
            var query = ArchiveQuery.keys(level, [(tag, "")])
            query.findings = invalid
            #expect(try store.archive.find(query).map { $0.string(tag) } == [uid], "\(level)")
            #expect(try store.archive.count(query) == 1)
            query.findings = [FindingMatch(kind: "anomaly", label: "valid")]
            #expect(try store.archive.find(query).map { $0.string(tag) } != [uid])
        }

        // A replaced instance loses its finding with its row.
        try store.reopen(policy: .replace, derivation: Self.policy)
        try store.store(flagged.bytes)
        #expect(try store.archive.derivations(sopInstanceUID: flagged.sopUID)?.findings.isEmpty == true)
        #expect(try store.archive.statistics().flagged == 0)
    }

    @Test func aFlaggedImagePublishesAnEventWithItsFinding() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        let flagged = Instance(patientID: "FLAG-1"), fine = Instance()
        try store.store(flagged.bytes)
        try store.store(fine.bytes)
        let before = try store.archive.lastEventSequence()
        try Self.classify(store, flagged: flagged, count: 2)

        let events = try store.archive.events(after: before)
        #expect(events.count == 1 && events[0].topic == "anomaly" && events[0].sequence > before)
        struct Payload: Decodable { let SOPInstanceUID, StudyInstanceUID, PatientID, label, reason: String; let probability: Double }
        let payload = try JSONDecoder().decode(Payload.self, from: Data(events[0].payload.utf8))
        #expect(payload.SOPInstanceUID == flagged.sopUID && payload.PatientID == "FLAG-1" && payload.reason == "overlay")
        #expect(payload.StudyInstanceUID == flagged.studyUID && payload.label == "invalid" && payload.probability == 0.9)
        #expect(try store.archive.lastEventSequence() == events[0].sequence)
        #expect(try store.archive.events(after: before, topics: ["flush"]).isEmpty)
        #expect(try store.archive.events(after: events[0].sequence).isEmpty)
    }
}
