// IndexBench: times Loupe's similarity index (Featurizer.VectorIndex) on raw vectors.
//
//   IndexBench --base base.f32 --queries queries.f32 --dimension D --k K --out results.bin
//              [--hnsw-threshold N] [--neighbors M] [--ef-construction E] [--ef-search S]
//
// Both files are little-endian float32, row-major, D values a row. The base vectors are added in
// batches of 10,000 under ids 0..<n; the add calls are timed together (the build; reading the file
// is not). Then every query is searched alone, one after the other on this thread, each timed.
// --ef-search may list several values (64,128,256): one search pass each over the same build. The ids
// found go to <--out>.ef<N> as little-endian int64, k per query in query order (-1 where fewer than
// k came back), and one JSON line per pass goes to stdout:
//   {"ef":…,"build_s":…,"p50_ms":…,"p99_ms":…,"mean_ms":…,"approximate":…,"count":…,"queries":…}
// Options left out keep VectorIndex.Configuration's defaults (HNSW from 20,000 vectors on).
// FAISS builds the HNSW graph with OpenMP (OMP_NUM_THREADS threads, default one per core); a
// single-query search runs on the calling thread. bench/similarity/run.py drives this.

import Featurizer
import Foundation

enum Bench {
    static let batchSize = 10_000
    static let options: Set<String> = [
        "base", "queries", "dimension", "k", "out", "hnsw-threshold", "neighbors", "ef-construction", "ef-search",
    ]
    static let usage = "usage: IndexBench --base FILE --queries FILE --dimension D --k K --out FILE "
        + "[--hnsw-threshold N] [--neighbors M] [--ef-construction E] [--ef-search S]"
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("IndexBench: \(message)\n".utf8))
    exit(2)
}

/// `--name value` pairs, names without their dashes.
func parse(_ arguments: [String]) -> [String: String] {
    var values: [String: String] = [:]
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        let name = String(argument.dropFirst(2))
        guard argument.hasPrefix("--"), Bench.options.contains(name) else { fail("unknown argument \(argument)\n\(Bench.usage)") }
        guard let value = rest.popFirst() else { fail("\(argument) needs a value\n\(Bench.usage)") }
        values[name] = value
    }
    return values
}

func string(_ values: [String: String], _ name: String) -> String {
    guard let value = values[name] else { fail("--\(name) is required\n\(Bench.usage)") }
    return value
}

func integer(_ values: [String: String], _ name: String, fallback: Int? = nil) -> Int {
    guard let text = values[name] else {
        guard let fallback else { fail("--\(name) is required\n\(Bench.usage)") }
        return fallback
    }
    guard let value = Int(text), value > 0 else { fail("--\(name) must be a positive integer, not \(text)") }
    return value
}

/// The float32 values of little-endian bytes (the host is checked to be little-endian).
func floats(_ bytes: Data) -> [Float] {
    let count = bytes.count / MemoryLayout<Float>.size
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        bytes.withUnsafeBytes { raw in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: raw.prefix(count * MemoryLayout<Float>.size)))
        }
        initialized = count
    }
}

func rows(_ flat: [Float], dimension: Int) -> [[Float]] {
    stride(from: 0, to: flat.count, by: dimension).map { Array(flat[$0..<($0 + dimension)]) }
}

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) * 1e-18
}

/// Linear interpolation between the closest ranks (numpy's default, and bench/ingest's).
func percentile(_ sorted: [Double], _ q: Double) -> Double {
    let position = Double(sorted.count - 1) * q
    let lower = Int(position)
    let upper = min(lower + 1, sorted.count - 1)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
}

func run(_ arguments: [String]) throws {
    guard 1.littleEndian == 1 else { fail("this host is big-endian; the vector files are little-endian") }
    let values = parse(arguments)
    let basePath = string(values, "base")
    let queriesPath = string(values, "queries")
    let outPath = string(values, "out")
    let dimension = integer(values, "dimension")
    let k = integer(values, "k")
    let defaults = VectorIndex.Configuration(dimension: dimension)
    let configuration = VectorIndex.Configuration(
        dimension: dimension,
        hnswThreshold: integer(values, "hnsw-threshold", fallback: defaults.hnswThreshold),
        hnswNeighbors: integer(values, "neighbors", fallback: defaults.hnswNeighbors),
        efConstruction: integer(values, "ef-construction", fallback: defaults.efConstruction),
        efSearch: defaults.efSearch)
    // One search pass per efSearch value (a comma-separated list), over the same build.
    let efSearches = (values["ef-search"] ?? "\(defaults.efSearch)").split(separator: ",").map { text -> Int in
        guard let value = Int(text), value > 0 else { fail("--ef-search takes positive integers, not \(text)") }
        return value
    }
    let rowBytes = dimension * MemoryLayout<Float>.size

    // Queries first, so that a bad file fails before a long build.
    guard let queryBytes = FileManager.default.contents(atPath: queriesPath) else { fail("cannot read \(queriesPath)") }
    guard !queryBytes.isEmpty, queryBytes.count % rowBytes == 0 else {
        fail("\(queriesPath): \(queryBytes.count) bytes is not a whole number of \(dimension)-d float32 rows")
    }
    let queries = rows(floats(queryBytes), dimension: dimension)

    // Build: the base file is read and converted one batch at a time, outside the timed calls.
    guard let file = FileHandle(forReadingAtPath: basePath) else { fail("cannot open \(basePath)") }
    defer { try? file.close() }
    let totalBytes = try Int(file.seekToEnd())
    guard totalBytes > 0, totalBytes % rowBytes == 0 else {
        fail("\(basePath): \(totalBytes) bytes is not a whole number of \(dimension)-d float32 rows")
    }
    let n = totalBytes / rowBytes
    try file.seek(toOffset: 0)
    let index = try VectorIndex(configuration: configuration)
    let clock = ContinuousClock()
    var building = Duration.zero
    var first = 0
    while first < n {
        let count = min(Bench.batchSize, n - first)
        guard let bytes = try file.read(upToCount: count * rowBytes), bytes.count == count * rowBytes else {
            fail("\(basePath): short read at row \(first)")
        }
        let vectors = rows(floats(bytes), dimension: dimension)
        let ids = (first..<(first + count)).map { Int64($0) }
        let start = clock.now
        try index.add(ids: ids, vectors: vectors)
        building += start.duration(to: clock.now)
        first += count
    }
    guard index.count == n else { fail("the index holds \(index.count) vectors after adding \(n)") }

    // Search: one query at a time, each timed alone; a pass per efSearch, results to <out>.ef<N>.
    for efSearch in efSearches {
        var found = [Int64](repeating: -1, count: queries.count * k)
        var milliseconds: [Double] = []
        milliseconds.reserveCapacity(queries.count)
        for (row, query) in queries.enumerated() {
            let start = clock.now
            let matches = try index.search(query, k: k, efSearch: efSearch)
            milliseconds.append(seconds(start.duration(to: clock.now)) * 1_000)
            for (column, match) in matches.prefix(k).enumerated() { found[row * k + column] = match.id }
        }
        try found.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: "\(outPath).ef\(efSearch)"))
        let sorted = milliseconds.sorted()
        let mean = milliseconds.reduce(0, +) / Double(milliseconds.count)
        print("{\"ef\":\(efSearch),\"build_s\":\(seconds(building)),\"p50_ms\":\(percentile(sorted, 0.5)),"
            + "\"p99_ms\":\(percentile(sorted, 0.99)),\"mean_ms\":\(mean),\"approximate\":\(index.isApproximate),"
            + "\"count\":\(index.count),\"queries\":\(queries.count)}")
    }
}

do {
    try run(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)")
}
