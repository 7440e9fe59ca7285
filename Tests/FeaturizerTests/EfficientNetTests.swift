import Featurizer
import Foundation
import Testing

/// The Swift forward pass against the project's numpy reference (scripts/model/efficientnet.py) on
/// scikit-image's photos: same input bytes, features to cosine ≥ 0.9999, and the same ImageNet answer.
@Suite struct EfficientNetTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let weights = repository.appendingPathComponent("models/efficientnet-lite0.weights")
    static let network: EfficientNetLite0? = try? EfficientNetLite0(weights: weights)

    struct Reference {
        let input: [UInt8]
        let features: [Float]
        let logits: [Float]
    }

    static func reference(_ image: String) throws -> Reference {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-featurizer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repository.appendingPathComponent("scripts/model/reference.py").path, weights.path, image, out.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FeaturizerTestError("reference.py \(image) failed") }
        func floats(_ name: String) throws -> [Float] {
            let data = try Data(contentsOf: out.appendingPathComponent(name))
            return data.withUnsafeBytes { raw in
                (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
        }
        return Reference(input: Array(try Data(contentsOf: out.appendingPathComponent("input.rgb"))),
                         features: try floats("features.f32"), logits: try floats("logits.f32"))
    }

    struct FeaturizerTestError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            na += Double(x) * Double(x)
            nb += Double(y) * Double(y)
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    static func top(_ logits: [Float], _ n: Int) -> [Int] {
        Array(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(n))
    }

    @Test(arguments: ["chelsea", "coffee", "astronaut", "camera"])
    func matchesTheNumpyReference(_ image: String) throws {
        let network = try #require(Self.network, "model weights missing: run `make model`")
        let reference = try Self.reference(image)
        let features = try network.features(rgb: reference.input)
        #expect(features.count == EfficientNetLite0.featureCount)
        #expect(Self.cosine(features, reference.features) >= 0.9999)
        let logits = network.logits(features: features)
        #expect(Self.cosine(logits, reference.logits) >= 0.9999)
        #expect(Self.top(logits, 1) == Self.top(reference.logits, 1))
    }

    @Test func aCatIsACat() throws {
        let network = try #require(Self.network, "model weights missing: run `make model`")
        let reference = try Self.reference("chelsea")
        let best = Self.top(network.logits(features: try network.features(rgb: reference.input)), 5)
        #expect((281...285).contains(best[0]), "top-5 \(best)")   // tabby ... Egyptian cat
    }

    @Test func concurrentCallsAgree() async throws {
        let network = try #require(Self.network, "model weights missing: run `make model`")
        let input = try Self.reference("coffee").input
        let single = try network.features(rgb: input)
        let results = try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0..<4 { group.addTask { try network.features(rgb: input) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 == single })
    }

    @Test func refusesWrongInputSizesAndMissingWeights() throws {
        let network = try #require(Self.network, "model weights missing: run `make model`")
        #expect(throws: FeaturizerError.self) { try network.features(rgb: [0, 1, 2]) }
        #expect(throws: FeaturizerError.self) { try EfficientNetLite0(weights: URL(fileURLWithPath: "/nonexistent.weights")) }
        let truncated = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-truncated-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: truncated) }
        try Data(try Data(contentsOf: Self.weights).prefix(1000)).write(to: truncated)
        #expect(throws: FeaturizerError.self) { try EfficientNetLite0(weights: truncated) }
    }
}
