import ArgumentParser
import Classifier
import DICOM
import Featurizer
import Foundation
import Imaging

/// `loupe classify FILE…`: the anomaly classifier's verdict on DICOM files, PNGs and JPEGs (and
/// the files under directories), as the pipeline would store it. `--features` prints what the
/// classifier reads instead: `scripts/classifier/train.py` trains on exactly that.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tell valid medical images from screenshots, dialogs, photos and blank frames (DICOM, PNG or JPEG).")

    @OptionGroup var options: CommonOptions

    @Argument(help: "Files, or directories to search for files.")
    var paths: [String]

    @Flag(help: "JSON lines: file, label, probability, reason, scores.")
    var json = false

    @Flag(help: "JSON lines with every input a classifier may read (AnomalyClassifier.Input, in order) instead of a verdict (for training).")
    var features = false

    @Flag(help: "Treat PNG and JPEG files as clinical photographs (photos of skin).")
    var photograph = false

    @Option(help: "Classifier parameters (JSON). Default: those built in.")
    var classifier: String?

    @Option(help: "Files examined at once. Default: one per core.")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        let embedder = try Models.embedder(weights: config.modelWeights).get()
        let screen: AnomalyScreen?
        if features {
            screen = nil
        } else {
            let parameters = try classifier.map { try AnomalyClassifier(contentsOf: URL(fileURLWithPath: $0)) } ?? AnomalyClassifier.bundled()
            screen = try AnomalyScreen(embedder: embedder, classifier: parameters)
        }
        let files = try ImportScan.files(under: paths)
        guard !files.isEmpty else { throw ValidationError("no files under \(paths.joined(separator: ", "))") }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failures = 0
        // In chunks, each examined in parallel and printed in order.
        for start in stride(from: 0, to: files.count, by: 64) {
            let chunk = Array(files[start..<min(start + 64, files.count)])
            let results = Results(count: chunk.count)
            DispatchQueue.concurrentPerform(iterations: max(1, jobs)) { worker in
                for index in stride(from: worker, to: chunk.count, by: max(1, jobs)) {
                    results.set(index, Result { try examine(chunk[index], embedder: embedder, screen: screen) })
                }
            }
            for (file, result) in zip(chunk, results.all) {
                switch result {
                case .success(let line):
                    print(json || features ? String(decoding: try encoder.encode(line), as: UTF8.self) : line.text)
                case .failure(let error):
                    failures += 1
                    if json || features {
                        print(String(decoding: try encoder.encode(["file": file.path, "error": "\(error)"]), as: UTF8.self))
                    } else {
                        print("\(file.path)\terror\t\(error)")
                    }
                }
            }
        }
        if failures > 0 { throw ExitCode(failures == files.count ? 2 : 1) }
    }

    struct Line: Encodable {
        let file: String
        let label: String?
        let probability: Double?
        let reason: String?
        let scores: [String: Double]?
        let features: [Float]?

        var text: String {
            [file, label ?? "", probability.map { String(format: "%.3f", $0) } ?? "", reason ?? ""].joined(separator: "\t")
        }
    }

    func examine(_ file: URL, embedder: Embedder, screen: AnomalyScreen?) throws -> Line {
        let bytes = [UInt8](try Data(contentsOf: file))
        let photograph: Bool
        let view: RGBImage
        if DICOMReader.isPart10(bytes) {
            photograph = AnomalyScreen.isClinicalPhotograph(try DICOMReader.read(bytes, options: .headerOnly).dataSet)
            view = try Embedder.view(file: file)
        } else {
            photograph = self.photograph
            view = try Embedder.view(image: try PhotoDecoder.decode(bytes))
        }
        guard let screen else {
            let pass = try embedder.pass(view: view)
            return Line(file: file.path, label: nil, probability: nil, reason: nil, scores: nil,
                        features: AnomalyClassifier.features(pass, statistics: ImageStatistics(view)))
        }
        let finding = try screen.examine(view: view, photograph: photograph).finding
        return Line(file: file.path, label: finding.label.rawValue, probability: finding.probability, reason: finding.reason,
                    scores: finding.scores, features: nil)
    }

    /// One slot per file of a chunk, filled from the worker threads.
    final class Results: @unchecked Sendable {
        private var slots: [Result<Line, any Error>?]
        private let lock = NSLock()
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ result: Result<Line, any Error>) { lock.withLock { slots[index] = result } }
        var all: [Result<Line, any Error>] { lock.withLock { slots.map { $0! } } }
    }
}
