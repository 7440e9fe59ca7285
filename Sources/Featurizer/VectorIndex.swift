import CFAISS
import Foundation
import Synchronization

/// Nearest neighbours by inner product (cosine, for unit vectors) over 64-bit ids, on FAISS:
/// exact search while the index is small, HNSW once it holds `hnswThreshold` vectors.
/// Removal marks ids dead (FAISS's HNSW cannot delete); searches skip them, and the storage is
/// rebuilt without them once they are a quarter of it. Thread-safe.
public final class VectorIndex: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var dimension: Int
        /// From this many live vectors on, search is approximate (HNSW) instead of exact.
        public var hnswThreshold: Int
        /// HNSW links per node (twice as many on the base layer).
        public var hnswNeighbors: Int
        /// Candidates kept while inserting: more is slower to build and better connected.
        public var efConstruction: Int
        /// Candidates kept while searching (at least k): recall against latency.
        public var efSearch: Int

        public init(dimension: Int, hnswThreshold: Int = 20_000, hnswNeighbors: Int = 32, efConstruction: Int = 64,
                    efSearch: Int = 256) {
            self.dimension = dimension
            self.hnswThreshold = hnswThreshold
            self.hnswNeighbors = hnswNeighbors
            self.efConstruction = efConstruction
            self.efSearch = efSearch
        }
    }

    public struct Match: Sendable, Equatable {
        public let id: Int64
        public let score: Float
    }

    public let configuration: Configuration
    private let state: Mutex<State>

    /// An empty index.
    public init(configuration: Configuration) throws(FeaturizerError) {
        self.configuration = configuration
        state = Mutex(try State(handle: Self.makeHandle(configuration, hnsw: false), ids: []))
    }

    /// The index saved at `url`; throws when it is missing, unreadable or of another dimension.
    public init(contentsOf url: URL, configuration: Configuration) throws(FeaturizerError) {
        self.configuration = configuration
        let handle = try Self.call { error in loupe_faiss_read(url.path, &error) }
        let dimension = Int(loupe_faiss_dimension(handle))
        guard dimension == configuration.dimension else {
            loupe_faiss_free(handle)
            throw FeaturizerError("\(url.lastPathComponent) holds \(dimension)-d vectors, expected \(configuration.dimension)")
        }
        var ids = [Int64](repeating: 0, count: Int(loupe_faiss_count(handle)))
        loupe_faiss_ids(handle, &ids)
        state = Mutex(State(handle: handle, ids: ids))
    }

    /// Writes the index to `url` atomically (a sibling temporary file renamed into place).
    public func save(to url: URL) throws(FeaturizerError) {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        try state.withLock { state throws(FeaturizerError) in
            _ = try Self.call { error in loupe_faiss_write(state.handle, temporary.path, &error) == 0 ? true : nil }
        }
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw FeaturizerError("cannot move the similarity index into place at \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Live vectors.
    public var count: Int { state.withLock { $0.positions.count } }

    /// Whether search is approximate (HNSW).
    public var isApproximate: Bool { state.withLock { loupe_faiss_hnsw_neighbors($0.handle) > 0 } }

    /// Every live id.
    public var ids: [Int64] { state.withLock { Array($0.positions.keys) } }

    /// The largest id ever added (dead ones included); nil when empty.
    public var largestID: Int64? { state.withLock { $0.largestID } }

    /// Adds vectors under new ids (an id already present is ignored). Crossing `hnswThreshold`
    /// rebuilds the index as HNSW.
    public func add(ids: [Int64], vectors: [[Float]]) throws(FeaturizerError) {
        precondition(ids.count == vectors.count)
        try state.withLock { state throws(FeaturizerError) in
            var newIDs: [Int64] = []
            var seen: Set<Int64> = []
            var flat: [Float] = []
            flat.reserveCapacity(ids.count * configuration.dimension)
            for (id, vector) in zip(ids, vectors) where state.positions[id] == nil && seen.insert(id).inserted {
                guard vector.count == configuration.dimension else {
                    throw FeaturizerError("expected \(configuration.dimension)-d vectors, got \(vector.count)")
                }
                newIDs.append(id)
                flat += vector
            }
            guard !newIDs.isEmpty else { return }
            let wantsHNSW = state.positions.count + newIDs.count >= configuration.hnswThreshold
            if wantsHNSW && loupe_faiss_hnsw_neighbors(state.handle) == 0 {
                try rebuild(&state, hnsw: true, adding: (newIDs, flat))
            } else {
                try state.append(ids: newIDs, flat: flat)
            }
        }
    }

    /// Marks ids dead; unknown ones are ignored.
    public func remove(ids: some Sequence<Int64>) throws(FeaturizerError) {
        try state.withLock { state throws(FeaturizerError) in
            for id in ids {
                state.positions.removeValue(forKey: id)
            }
            if state.deadCount > 1_000 && state.deadCount * 4 > Int(loupe_faiss_count(state.handle)) {
                try rebuild(&state, hnsw: state.positions.count >= configuration.hnswThreshold)
            }
        }
    }

    /// The `k` live vectors with the largest inner product with `query`, best first. `efSearch`
    /// overrides the configured HNSW candidate count for this query.
    public func search(_ query: [Float], k: Int, efSearch: Int? = nil) throws(FeaturizerError) -> [Match] {
        guard query.count == configuration.dimension else {
            throw FeaturizerError("expected a \(configuration.dimension)-d query, got \(query.count)")
        }
        return try state.withLock { state throws(FeaturizerError) -> [Match] in
            let stored = Int(loupe_faiss_count(state.handle))
            // Dead vectors take places among the results: ask for a few more, and for twice as
            // many while fewer than k live ones come back and more are stored.
            var wanted = min(stored, k + min(state.deadCount, k))
            guard wanted > 0, k > 0 else { return [] }
            while true {
                var scores = [Float](repeating: 0, count: wanted)
                var found = [Int64](repeating: -1, count: wanted)
                let asked = wanted
                _ = try Self.call { error in
                    loupe_faiss_search(state.handle, query, Int64(asked), Int32(efSearch ?? configuration.efSearch), &scores, &found, &error) == 0 ? true : nil
                }
                var matches: [Match] = []
                for (id, score) in zip(found, scores) where id >= 0 && state.positions[id] != nil {
                    matches.append(Match(id: id, score: score))
                    if matches.count == k { break }
                }
                if matches.count == k || wanted >= stored || state.deadCount == 0 { return matches }
                wanted = min(stored, wanted * 2)
            }
        }
    }

    /// Exact search among some ids only (a filtered query): the `k` best of those that are live.
    public func search(_ query: [Float], k: Int, among candidates: [Int64]) throws(FeaturizerError) -> [Match] {
        guard query.count == configuration.dimension else {
            throw FeaturizerError("expected a \(configuration.dimension)-d query, got \(query.count)")
        }
        return try state.withLock { state throws(FeaturizerError) -> [Match] in
            let live = candidates.compactMap { id in state.positions[id].map { (id, Int64($0)) } }
            guard !live.isEmpty, k > 0 else { return [] }
            var scores = [Float](repeating: 0, count: live.count)
            _ = try Self.call { error in
                loupe_faiss_score_positions(state.handle, query, live.map(\.1), Int64(live.count), &scores, &error) == 0 ? true : nil
            }
            let ranked = zip(live, scores).map { Match(id: $0.0.0, score: $0.1) }
            return Array(ranked.sorted { ($0.score, $1.id) > ($1.score, $0.id) }.prefix(k))
        }
    }

    // MARK: - Internals

    /// The FAISS index and the storage positions of its live ids; the other positions are dead.
    private struct State: ~Copyable {
        var handle: OpaquePointer
        var positions: [Int64: Int] = [:]
        var largestID: Int64?

        var deadCount: Int { Int(loupe_faiss_count(handle)) - positions.count }

        init(handle: OpaquePointer, ids: [Int64]) {
            self.handle = handle
            positions.reserveCapacity(ids.count)
            for (position, id) in ids.enumerated() { positions[id] = position }
            largestID = ids.max()
        }

        deinit { loupe_faiss_free(handle) }

        mutating func append(ids: [Int64], flat: [Float]) throws(FeaturizerError) {
            let first = Int(loupe_faiss_count(handle))
            let handle = self.handle
            _ = try VectorIndex.call { error in loupe_faiss_add(handle, Int64(ids.count), flat, ids, &error) == 0 ? true : nil }
            for (offset, id) in ids.enumerated() { positions[id] = first + offset }
            largestID = max(largestID ?? ids[0], ids.max()!)
        }
    }

    /// Replaces the FAISS index with a new one (flat or HNSW) of the live vectors plus `adding`.
    private func rebuild(_ state: inout State, hnsw: Bool, adding extra: ([Int64], [Float]) = ([], [])) throws(FeaturizerError) {
        let dimension = configuration.dimension
        let stored = Int(loupe_faiss_count(state.handle))
        var all = [Float](repeating: 0, count: stored * dimension)
        let handle = state.handle
        if stored > 0 {
            _ = try Self.call { error in loupe_faiss_vectors(handle, 0, Int64(stored), &all, &error) == 0 ? true : nil }
        }
        var ids: [Int64] = []
        var flat: [Float] = []
        flat.reserveCapacity((state.positions.count + extra.0.count) * dimension)
        for (id, position) in state.positions.sorted(by: { $0.value < $1.value }) {
            ids.append(id)
            flat += all[(position * dimension)..<((position + 1) * dimension)]
        }
        ids += extra.0
        flat += extra.1
        let largest = state.largestID
        var fresh = State(handle: try Self.makeHandle(configuration, hnsw: hnsw), ids: [])
        if !ids.isEmpty { try fresh.append(ids: ids, flat: flat) }
        fresh.largestID = [largest, fresh.largestID].compactMap { $0 }.max()
        state = fresh
    }

    private static func makeHandle(_ configuration: Configuration, hnsw: Bool) throws(FeaturizerError) -> OpaquePointer {
        try call { error in
            loupe_faiss_new(Int32(configuration.dimension), hnsw ? Int32(configuration.hnswNeighbors) : 0,
                            Int32(configuration.efConstruction), &error)
        }
    }

    /// Runs a shim call that reports failure as nil plus a message.
    fileprivate static func call<T>(_ body: (inout UnsafeMutablePointer<CChar>?) -> T?) throws(FeaturizerError) -> T {
        var error: UnsafeMutablePointer<CChar>?
        if let value = body(&error) { return value }
        let message = error.map { String(cString: $0) } ?? "FAISS call failed"
        loupe_faiss_free_error(error)
        throw FeaturizerError("similarity index: \(message)")
    }
}
