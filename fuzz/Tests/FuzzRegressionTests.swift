import Foundation
import FuzzTargets
import Testing

/// The fuzz targets on their seeds and on every input kept under `regressions/<target>/`: inputs a
/// fuzzer (or a review) found that once crashed, hung or misbehaved. A file's extension says what
/// the target must make of it (`.accepted` or `.refused`); its name says what it pins. A refusal's
/// message must hold what `expectedRefusals` names for the file, where it names something.
@Suite struct FuzzRegressionTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("regressions")

    static let expectedRefusals = ["twenty-thousand-delimiters.refused": "too many parts",
                                   "10240x4352-in-612-bytes.refused": "cut short"]

    struct Case: CustomTestStringConvertible, Sendable {
        let target: FuzzTarget
        let file: URL
        var testDescription: String { "\(target.rawValue)/\(file.lastPathComponent)" }
    }

    static let cases: [Case] = FuzzTarget.allCases.flatMap { target in
        let directory = regressions.appendingPathComponent(target.rawValue)
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        return files.sorted { $0.path < $1.path }.map { Case(target: target, file: $0) }
    }

    @Test(arguments: cases)
    func regressionInputGetsItsOutcome(_ regression: Case) async throws {
        let outcome = await Self.run(regression.target, Array(try Data(contentsOf: regression.file)))
        switch regression.file.pathExtension {
        case "accepted": #expect(outcome == .accepted)
        case "refused":
            #expect(outcome != .accepted, "\(outcome)")
            if let expected = Self.expectedRefusals[regression.file.lastPathComponent], case .refused(let message) = outcome {
                #expect(message.contains(expected), "\(message)")
            }
        default: Issue.record("\(regression.file.lastPathComponent) says neither .accepted nor .refused")
        }
    }

    /// Seeds are valid input: each is accepted (but the tokens with a forbidden algorithm).
    @Test(arguments: FuzzTarget.allCases)
    func seedsAreAccepted(_ target: FuzzTarget) async {
        let seeds = target.seeds  // made anew on each use (a token signed, pictures rendered)
        #expect(!seeds.isEmpty)
        for (number, seed) in seeds.enumerated() {
            let outcome = await Self.run(target, seed)
            if target == .jwt, number > 0 {
                #expect(outcome != .accepted, "jwt seed \(number) has a forbidden algorithm")
            } else {
                #expect(outcome == .accepted, "\(target.rawValue) seed \(number): \(outcome)")
            }
        }
    }

    /// Runs a target on a thread of its own, as the fuzz driver does: a target may wait for async work
    /// (the JWT verifier), which must not block a thread of the test's concurrency pool.
    static func run(_ target: FuzzTarget, _ bytes: [UInt8]) async -> FuzzOutcome {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: target.run(bytes)) }.start()
        }
    }
}
