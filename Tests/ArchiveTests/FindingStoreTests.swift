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
        // A valid image in the flagged image's series: that series is not a valid one.
        let beside = Instance(studyUID: flagged.studyUID, seriesUID: flagged.seriesUID)
        for instance in [flagged, fine, beside] { try store.store(instance.bytes) }
        try Self.classify(store, flagged: flagged, count: 3)

        let stats = try store.archive.statistics()
        #expect(stats.flagged == 1 && stats.findings == ["anomaly": ["invalid": 1, "valid": 2]])
        let stored = try #require(try store.archive.derivations(sopInstanceUID: flagged.sopUID)).findings
        #expect(stored.count == 1 && stored[0].finding.label == "invalid" && stored[0].finding.reason == "overlay")
        #expect(stored[0].finding.details == #"{"score":1}"# && stored[0].finding.model == "anomaly/test")

        func found(_ level: QueryLevel, _ tag: Tag, _ match: FindingMatch) throws -> Set<String> {
            var query = ArchiveQuery.keys(level, [(tag, "")])
            query.findings = [match]
            let uids = Set(try store.archive.find(query).compactMap { $0.string(tag) })
            #expect(try store.archive.count(query) == uids.count)
            return uids
        }
        let invalid = FindingMatch(kind: "anomaly", label: "invalid")
        let valid = FindingMatch(kind: "anomaly", label: "valid", exclusive: true)
        #expect(try found(.image, .sopInstanceUID, invalid) == [flagged.sopUID])
        #expect(try found(.image, .sopInstanceUID, valid) == [fine.sopUID, beside.sopUID])
        #expect(try found(.series, .seriesInstanceUID, invalid) == [flagged.seriesUID])
        #expect(try found(.series, .seriesInstanceUID, valid) == [fine.seriesUID])
        #expect(try found(.study, .studyInstanceUID, invalid) == [flagged.studyUID])
        #expect(try found(.study, .studyInstanceUID, valid) == [fine.studyUID])
        // Not exclusive: any valid image will do.
        #expect(try found(.series, .seriesInstanceUID, FindingMatch(kind: "anomaly", label: "valid")) == [fine.seriesUID, flagged.seriesUID])

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

        let page = try store.archive.events(after: before)
        let events = page.events
        #expect(events.count == 1 && events[0].topic == "anomaly" && events[0].sequence > before && page.through == events[0].sequence)
        struct Payload: Decodable {
            let SOPInstanceUID, StudyInstanceUID, PatientID, label, reason: String
            let probability: Double
            let details: [String: Int]
        }
        let payload = try JSONDecoder().decode(Payload.self, from: Data(events[0].payload.utf8))
        #expect(payload.SOPInstanceUID == flagged.sopUID && payload.PatientID == "FLAG-1" && payload.reason == "overlay")
        #expect(payload.StudyInstanceUID == flagged.studyUID && payload.label == "invalid" && payload.probability == 0.9)
        #expect(payload.details == ["score": 1])
        #expect(try store.archive.lastEventSequence() == events[0].sequence)
        #expect(try store.archive.events(after: before, topics: ["anomaly", "flush"]).events == events)
        // Another topic's subscriber gets nothing but moves past the event (it is not scanned again).
        #expect(try store.archive.events(after: before, topics: ["flush"]) == EventPage(events: [], through: events[0].sequence))
        #expect(try store.archive.events(after: events[0].sequence).events.isEmpty)
        #expect(try store.archive.events(after: before, limit: 0).through == before)
    }

    @Test func oldEventsArePrunedAndTheirSequenceNumbersNotReused() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        let first = Instance()
        try store.store(first.bytes)
        try Self.classify(store, flagged: first, count: 1)
        let published = try store.archive.lastEventSequence()
        #expect(published > 0)
        #expect(try store.archive.pruneEvents(before: Date(timeIntervalSinceNow: -3600)) == 0)  // an hour ago: nothing that old
        #expect(try store.archive.pruneEvents(before: Date(timeIntervalSinceNow: 60)) == 1)
        #expect(try store.archive.events(after: 0).events.isEmpty && store.archive.lastEventSequence() == published)

        let second = Instance()
        try store.store(second.bytes)
        try Self.classify(store, flagged: second, count: 1)
        let events = try store.archive.events(after: 0).events
        #expect(events.count == 1 && events[0].sequence > published)
    }
}
