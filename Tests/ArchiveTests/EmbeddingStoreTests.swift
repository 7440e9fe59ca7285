@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

@Suite struct EmbeddingStoreTests {
    static let model = "test-model"

    func embed(_ store: TemporaryArchive, _ vector: [Float]) throws {
        let claim = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(claim, processor: "embedding", .success(.embedded(Embedding(model: Self.model, vector: vector))))
    }

    @Test func storesHalfFloatVectorsWithEverGrowingSequences() throws {
        let store = try TemporaryArchive(policy: .replace, derivation: DerivationPolicy(processors: ["embedding"]))
        var ct = Instance(patientID: "P1", modality: "CT")
        let mr = Instance(patientID: "P2", modality: "MR")
        try store.store(ct.bytes)
        try store.store(mr.bytes)
        let vector: [Float] = [0.6, -0.8, 1e-3, 0]
        try embed(store, vector)
        try embed(store, [1, 0, 0, 0])

        let (model, stored) = try #require(try store.archive.embedding(sopInstanceUID: ct.sopUID))
        #expect(model == Self.model && stored.sequence == 1)
        #expect(zip(stored.vector, vector).allSatisfy { abs($0 - $1) < 1e-3 })
        #expect(try store.archive.embeddings(model: Self.model, after: 0).map(\.sequence) == [1, 2])
        #expect(try store.archive.embeddings(model: Self.model, after: 1).map(\.sequence) == [2])
        #expect(try store.archive.embeddings(model: "other", after: 0).isEmpty)
        #expect(try store.archive.embeddingSequences(model: Self.model, matching: EmbeddingFilter(modality: "MR")) == [2])
        #expect(try store.archive.embeddingSequences(model: Self.model, matching: EmbeddingFilter(patientID: "P1")) == [1])
        #expect(try store.archive.embeddingSequences(model: Self.model, matching: EmbeddingFilter(modality: "MR", patientID: "P1")).isEmpty)
        let found = try store.archive.embeddedInstances(sequences: [1, 2, 99])
        #expect(found.count == 2 && found[1]?.sopInstanceUID == ct.sopUID && found[2]?.modality == "MR")
        #expect(found[2]?.patientID == "P2" && found[1]?.studyInstanceUID == ct.studyUID)

        // Deriving again writes a new vector under a new sequence number; the old one is gone.
        try store.archive.requeueDerivations(.instance(sopInstanceUID: ct.sopUID))
        try embed(store, [0, 1, 0, 0])
        #expect(try store.archive.embeddingSequences(model: Self.model) == [2, 3])
        #expect(try store.archive.embeddedInstances(sequences: [1]).isEmpty)
        // Replacing the instance drops its embedding with the row; the next one is new again.
        ct.instanceNumber = 5
        try store.store(ct.bytes)
        #expect(try store.archive.embeddingSequences(model: Self.model) == [2])
        try embed(store, [0, 0, 1, 0])
        #expect(try store.archive.embeddingSequences(model: Self.model) == [2, 4])
    }

    @Test func aStaleClaimRecordsNoEmbedding() throws {
        let store = try TemporaryArchive(policy: .replace, derivation: DerivationPolicy(processors: ["embedding"]))
        var instance = Instance()
        try store.store(instance.bytes)
        let claim = try #require(try store.archive.claimDerivations())
        instance.instanceNumber = 2
        try store.store(instance.bytes)
        try store.archive.completeDerivation(claim, processor: "embedding", .success(.embedded(Embedding(model: Self.model, vector: [1]))))
        #expect(try store.archive.embeddingSequences(model: Self.model).isEmpty)
    }
}
