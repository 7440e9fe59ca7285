@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

@Suite struct FlushEpisodeTests {
    /// Measures each claimed photo with the given (level, score): an alert for levels above none.
    static func measure(_ store: TemporaryArchive, _ results: [String: (String, Double)]) throws {
        while let claim = try store.archive.claimDerivations() {
            let (level, score) = try #require(results[claim.input.sopInstanceUID])
            struct Details: Encodable { let score: Double; let isBaseline: Bool }
            let finding = try Finding(kind: "flush", label: level, probability: nil, reason: nil, model: "flush/test",
                                      details: Details(score: score, isBaseline: score == 0), publishing: level == "none" ? nil : "flush")
            try store.archive.completeDerivation(claim, processor: "photo", .success(.found(finding)))
        }
    }

    @Test func aDayHasAnEpisodePerPatientWithPhotosScoresAndAlerts() throws {
        let store = try TemporaryArchive(derivation: DerivationPolicy(processors: ["photo"]))
        let archive = store.archive, zone = PhotoIngestTests.zone, morning = PhotoIngestTests.morning
        let pixels = PhotoIngestTests.pixels
        let base = try archive.ingestPhoto(pixels, PhotoIngestTests.photo(patient: "W1", baseline: true), now: morning, timeZone: zone)
        let later = try archive.ingestPhoto(pixels, PhotoIngestTests.photo(patient: "W1"), now: morning + 1800, timeZone: zone)
        let other = try archive.ingestPhoto(pixels, PhotoIngestTests.photo(patient: "W2"), now: morning + 600, timeZone: zone)
        let lesion = try archive.ingestPhoto(pixels, PhotoIngestTests.photo(.lesion, patient: "W3"), now: morning, timeZone: zone)
        let yesterday = try archive.ingestPhoto(pixels, PhotoIngestTests.photo(patient: "W1"), now: morning - 86_400, timeZone: zone)
        try Self.measure(store, [base.sopInstanceUID: ("none", 0), later.sopInstanceUID: ("marked", 9.5), other.sopInstanceUID: ("none", 0.4),
                                 lesion.sopInstanceUID: ("low", 3), yesterday.sopInstanceUID: ("mild", 4)])

        let day = try archive.flushEpisodes(day: "20261123")
        #expect(Set(day.map(\.PatientID)) == ["W1", "W2"])  // not the lesion patient, not yesterday's photo
        let w1 = try #require(day.first { $0.PatientID == "W1" })
        #expect(w1.PatientName == "Doe^Jane" && w1.SeriesInstanceUID == base.seriesInstanceUID && w1.day == "20261123")
        #expect(w1.photos.map(\.SOPInstanceUID) == [base.sopInstanceUID, later.sopInstanceUID])
        #expect(w1.photos.map(\.level) == ["none", "marked"] && w1.photos.map(\.score) == [0, 9.5])
        #expect(w1.photos.map(\.taken) == ["20261123100000", "20261123103000"] && w1.photos.map(\.isBaseline) == [true, false])
        #expect(w1.alerts.count == 1 && w1.alerts[0].SOPInstanceUID == later.sopInstanceUID && w1.alerts[0].level == "marked")
        #expect(w1.alerts[0].score == 9.5 && w1.alerts[0].acknowledgedBy == nil)

        // Acknowledged: who and when come with it.
        let nurse = AuditRecord(actor: "nurse-anna", actorKind: .session, address: nil, action: .alertAcknowledged)
        #expect(try archive.acknowledgeAlert(sequence: w1.alerts[0].sequence, note: "seen, cooling", audit: nurse))
        let acknowledged = try #require(try archive.flushEpisodes(day: "20261123", patientID: "W1").first?.alerts.first)
        #expect(acknowledged.acknowledgedBy == "nurse-anna" && acknowledged.acknowledged != nil && acknowledged.note == "seen, cooling")

        #expect(try archive.flushEpisodes(day: "20261123", patients: ["W2"]).map(\.PatientID) == ["W2"])
        #expect(try archive.flushEpisodes(day: "20261122").map(\.photos.count) == [1])
        #expect(try archive.flushEpisodes(day: "20261124").isEmpty)

        // Photos not analysed yet are on the board without a level.
        let fresh = try archive.ingestPhoto(pixels, PhotoIngestTests.photo(patient: "W2"), now: morning + 3600, timeZone: zone)
        let w2 = try #require(try archive.flushEpisodes(day: "20261123", patientID: "W2").first)
        #expect(w2.photos.last?.SOPInstanceUID == fresh.sopInstanceUID && w2.photos.last?.level == nil && w2.photos.last?.score == nil)
    }
}
