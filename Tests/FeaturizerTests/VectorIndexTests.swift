import Featurizer
import Foundation
import Testing

@Suite struct VectorIndexTests {
    /// Unit vectors around `clusters` random centres (seeded), like embeddings of similar images.
    static func vectors(_ count: Int, dimension: Int, clusters: Int = 20, seed: UInt64 = 7) -> [[Float]] {
        var generator = SeededGenerator(seed: seed)
        let centres = (0..<clusters).map { _ in (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) } }
        return (0..<count).map { index in
            let raw = centres[index % clusters].map { $0 + Float.random(in: -0.6...0.6, using: &generator) }
            let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return raw.map { $0 / norm }
        }
    }

    static func exact(_ query: [Float], _ vectors: [Int64: [Float]], k: Int) -> [Int64] {
        vectors.map { id, v in (id, zip(query, v).reduce(0) { $0 + $1.0 * $1.1 }) }
            .sorted { ($0.1, $1.0) > ($1.1, $0.0) }.prefix(k).map(\.0)
    }

    @Test func exactSearchRanksByInnerProduct() throws {
        let data = Self.vectors(500, dimension: 32)
        let index = try VectorIndex(configuration: .init(dimension: 32))
        let ids = (0..<Int64(500)).map { $0 * 3 + 10 }
        try index.add(ids: ids, vectors: data)
        #expect(index.count == 500 && !index.isApproximate && index.largestID == 499 * 3 + 10)
        let byID = Dictionary(uniqueKeysWithValues: zip(ids, data))
        for probe in [0, 17, 499] {
            let matches = try index.search(data[probe], k: 10)
            #expect(matches.map(\.id) == Self.exact(data[probe], byID, k: 10))
            #expect(matches[0].id == ids[probe] && abs(matches[0].score - 1) < 1e-4)
            #expect(zip(matches, matches.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
        // Adding an id again changes nothing.
        try index.add(ids: [ids[0]], vectors: [data[1]])
        #expect(index.count == 500)
        #expect(throws: FeaturizerError.self) { try index.search([1, 2, 3], k: 1) }
        #expect(throws: FeaturizerError.self) { try index.add(ids: [1], vectors: [[1, 2]]) }
    }

    @Test func becomesHNSWAtTheThresholdWithHighRecall() throws {
        let data = Self.vectors(3000, dimension: 64)
        let index = try VectorIndex(configuration: .init(dimension: 64, hnswThreshold: 1000))
        try index.add(ids: Array(0..<900), vectors: Array(data[0..<900]))
        #expect(!index.isApproximate)
        for start in stride(from: 900, to: 3000, by: 300) {
            try index.add(ids: (Int64(start)..<Int64(start + 300)).map { $0 }, vectors: Array(data[start..<(start + 300)]))
        }
        #expect(index.isApproximate && index.count == 3000)
        let byID = Dictionary(uniqueKeysWithValues: data.enumerated().map { (Int64($0.offset), $0.element) })
        var hits = 0
        for probe in stride(from: 0, to: 3000, by: 60) {
            let query = data[probe].map { $0 * 0.9 } .enumerated().map { $0.element + (($0.offset % 7 == 0) ? 0.05 : 0) }
            let truth = Set(Self.exact(query, byID, k: 10))
            hits += try index.search(query, k: 10).filter { truth.contains($0.id) }.count
        }
        #expect(Double(hits) / Double(50 * 10) >= 0.95)
    }

    @Test func removedIDsAreNeverReturnedAndStorageIsCompacted() throws {
        let data = Self.vectors(2000, dimension: 16)
        for threshold in [10_000, 500] {  // exact, then HNSW
            let index = try VectorIndex(configuration: .init(dimension: 16, hnswThreshold: threshold))
            try index.add(ids: Array(0..<2000), vectors: data)
            try index.remove(ids: [5, 6, 7, 99_999])
            #expect(index.count == 1997)
            let matches = try index.search(data[5], k: 20)
            #expect(matches.count == 20 && !matches.contains { [5, 6, 7].contains($0.id) })
            // Past a quarter dead, the storage is rebuilt from the live vectors.
            try index.remove(ids: Array(8..<1500))
            #expect(index.count == 505 && Set(index.ids) == Set([0, 1, 2, 3, 4] + Array(1500..<2000)))
            #expect(try index.search(data[1600], k: 1).first?.id == 1600)
            #expect(try index.search(data[3], k: 1).first?.id == 3)
        }
    }

    @Test func manyDeadNeighboursStillLeaveKResults() throws {
        let data = Self.vectors(2000, dimension: 16)
        for threshold in [10_000, 500] {
            let index = try VectorIndex(configuration: .init(dimension: 16, hnswThreshold: threshold))
            try index.add(ids: Array(0..<2000), vectors: data)
            try index.remove(ids: Array(0..<900))  // below the compaction minimum: all still stored
            let matches = try index.search(data[0], k: 10)
            #expect(matches.count == 10 && matches.allSatisfy { $0.id >= 900 }, "threshold \(threshold)")
        }
    }

    @Test func filteredSearchIsExactOverTheCandidates() throws {
        let data = Self.vectors(1000, dimension: 16)
        let index = try VectorIndex(configuration: .init(dimension: 16, hnswThreshold: 100))
        try index.add(ids: Array(0..<1000), vectors: data)
        try index.remove(ids: [42])
        let candidates: [Int64] = Array(stride(from: 1, to: 1000, by: 7)) + [42, 5000]
        let byID = Dictionary(uniqueKeysWithValues: candidates.filter { $0 < 1000 && $0 != 42 }.map { ($0, data[Int($0)]) })
        let matches = try index.search(data[0], k: 5, among: candidates)
        #expect(matches.map(\.id) == Self.exact(data[0], byID, k: 5))
    }

    @Test func savesAndLoads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vector-index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = Self.vectors(600, dimension: 16)
        let configuration = VectorIndex.Configuration(dimension: 16, hnswThreshold: 300)
        let index = try VectorIndex(configuration: configuration)
        try index.add(ids: (0..<Int64(600)).map { $0 + 1000 }, vectors: data)
        let url = directory.appendingPathComponent("index.faiss")
        try index.save(to: url)
        let loaded = try VectorIndex(contentsOf: url, configuration: configuration)
        #expect(loaded.isApproximate && loaded.count == 600 && loaded.largestID == 1599)
        #expect(try loaded.search(data[9], k: 10) == index.search(data[9], k: 10))
        #expect(throws: FeaturizerError.self) { try VectorIndex(contentsOf: url, configuration: .init(dimension: 32)) }
        try Data("not an index".utf8).write(to: url)
        #expect(throws: FeaturizerError.self) { try VectorIndex(contentsOf: url, configuration: configuration) }
        #expect(throws: FeaturizerError.self) { try VectorIndex(contentsOf: directory.appendingPathComponent("missing"), configuration: configuration) }
    }

    /// Vectors are held as float16 (as the archive stores them): half the memory of float32, and
    /// scores are those of the rounded vectors.
    @Test func storesFloat16() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vector-index-\(UUID().uuidString).faiss")
        defer { try? FileManager.default.removeItem(at: url) }
        let data = Self.vectors(1000, dimension: 64)
        let index = try VectorIndex(configuration: .init(dimension: 64))
        try index.add(ids: Array(0..<1000), vectors: data)
        try index.save(to: url)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        #expect(size > 1000 * 64 * 2 && size < 1000 * 64 * 3)

        let query = (0..<64).map { Float($0 % 5) / 10 - 0.2 }
        let rounded = zip(query, data[3]).reduce(Float(0)) { $0 + $1.0 * Float(Float16($1.1)) }
        let unrounded = zip(query, data[3]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        let score = try index.search(query, k: 1000).first { $0.id == 3 }!.score
        #expect(abs(score - rounded) < 1e-6 && abs(rounded - unrounded) > 1e-5)
    }
}

/// SplitMix64: reproducible test vectors.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
