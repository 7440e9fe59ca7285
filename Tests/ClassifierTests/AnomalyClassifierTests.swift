import Classifier
import Featurizer
import Foundation
import Imaging
import Testing

@Suite struct AnomalyClassifierTests {
    static func image(_ columns: Int, _ rows: Int, _ pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) -> RGBImage {
        var bytes: [UInt8] = []
        for y in 0..<rows {
            for x in 0..<columns {
                let (r, g, b) = pixel(x, y)
                bytes += [r, g, b]
            }
        }
        return RGBImage(columns: columns, rows: rows, pixels: bytes)
    }

    static func statistic(_ statistics: ImageStatistics, _ name: String) -> Float {
        statistics.values[ImageStatistics.names.firstIndex(of: name)!]
    }

    @Test func statisticsTellBlankBoxedAndColourfulImagesApart() {
        let black = ImageStatistics(Self.image(64, 64) { _, _ in (0, 0, 0) })
        #expect(Self.statistic(black, "darkFraction") == 1 && Self.statistic(black, "entropy") == 0)
        #expect(Self.statistic(black, "flatFraction") == 0)  // black is background, not a flat panel

        // A grey box with a dark border on a noisy background: long straight edges, a flat area.
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<(128 * 128)).map { _ in UInt8.random(in: 40...90, using: &generator) }
        let boxed = ImageStatistics(Self.image(128, 128) { x, y in
            if (32...96).contains(x) && (40...88).contains(y) {
                let border = x == 32 || x == 96 || y == 40 || y == 88
                return border ? (20, 20, 20) : (220, 220, 220)
            }
            let v = noise[y * 128 + x]
            return (v, v, v)
        })
        #expect(Self.statistic(boxed, "longestHorizontalLine") >= 0.45 && Self.statistic(boxed, "longestVerticalLine") >= 0.3)
        #expect(Self.statistic(boxed, "flatFraction") > 0.15)
        #expect(Self.statistic(boxed, "colourfulFraction") == 0)
        // The box is a panel clear of the edges, filling its bounding box; the noise has none. (Flat:
        // no step of more than one level to the next pixel right or down, so the box's last column
        // and row are not.)
        #expect(Self.statistic(boxed, "innerPanel") == 1 && Self.statistic(boxed, "panels") == 1.0 / 6)
        #expect(abs(Self.statistic(boxed, "innerPanelFraction") - Float(62 * 46) / Float(128 * 128)) < 1e-6)
        #expect(Self.statistic(boxed, "innerPanelFill") == 1)
        // A banner across the top: a panel, but one on the edge, not drawn over the image.
        let bannered = ImageStatistics(Self.image(128, 128) { x, y in
            if y < 20 { return (120, 60, 200) }
            let v = noise[y * 128 + x]
            return (v, v, v)
        })
        #expect(Self.statistic(bannered, "panels") == 1.0 / 6 && Self.statistic(bannered, "innerPanel") == 0)
        #expect(abs(Self.statistic(bannered, "panelFraction") - 19.0 / 128) < 1e-6)
        #expect(Self.statistic(black, "panels") == 0)  // black is background

        let colourful = ImageStatistics(Self.image(64, 64) { x, y in (UInt8(x * 4), UInt8(255 - y * 4), 40) })
        #expect(Self.statistic(colourful, "colourfulFraction") > 0.5 && Self.statistic(colourful, "meanChroma") > 0.3)
        #expect(ImageStatistics.names.count == black.values.count)
    }

    /// Two embedding dimensions, no statistics weight: class scores are set by the embedding alone.
    static func parameters(statistics: [String] = ImageStatistics.names, weights: [[Float]]? = nil,
                           scale: Float = 1, inputs: [String] = ["embedding", "statistics"]) -> AnomalyClassifier.Parameters {
        let width = 2 + statistics.count
        let rows = weights ?? [
            [1, 0] + Array(repeating: 0, count: statistics.count),  // valid
            [0, 0] + Array(repeating: 0, count: statistics.count),  // overlay
            [0, 1] + Array(repeating: 0, count: statistics.count),  // non-medical
            [-1, -1] + Array(repeating: 0, count: statistics.count),  // blank
        ]
        let json = """
            {"version": "test", "classes": ["valid", "overlay", "non-medical", "blank"], "embeddingModel": "m",
             "embeddingDimension": 2, "statistics": \(String(decoding: try! JSONEncoder().encode(statistics), as: UTF8.self)),
             "inputs": \(inputs),
             "mean": \(Array(repeating: 0, count: width)), "scale": \(Array(repeating: scale, count: width)),
             "layers": [{"weights": \(rows), "bias": [0, 0, 0, 0]}]}
            """
        return try! JSONDecoder().decode(AnomalyClassifier.Parameters.self, from: Data(json.utf8))
    }

    /// A network pass of just an embedding (the test classifiers read no ImageNet logits).
    static func pass(_ embedding: [Float]) -> NetworkPass { NetworkPass(embedding: embedding, logits: [], featureNorm: 1) }

    @Test func softmaxOverClassesAndPhotographsAreNeverNonMedical() throws {
        let classifier = try AnomalyClassifier(parameters: Self.parameters())
        let statistics = ImageStatistics(Self.image(8, 8) { _, _ in (0, 0, 0) })
        let valid = try classifier.classify(Self.pass([4, 0]), statistics: statistics)
        #expect(valid.label == .valid && valid.reason == nil && valid.probability > 0.9)
        #expect(abs(valid.scores.values.reduce(0, +) - 1) < 1e-9)

        let photo = try classifier.classify(Self.pass([0.5, 4]), statistics: statistics)
        #expect(photo.label == .invalid && photo.reason == "non-medical" && abs(photo.probability - (1 - photo.scores["valid"]!)) < 1e-12)
        // The same picture as a clinical photograph: looking like a photograph counts as valid.
        let clinical = try classifier.classify(Self.pass([0.5, 4]), statistics: statistics, photograph: true)
        #expect(clinical.label == .valid && clinical.scores["non-medical"] == 0)
        #expect(abs(clinical.scores["valid"]! - photo.scores["valid"]! - photo.scores["non-medical"]!) < 1e-12)

        let blank = try classifier.classify(Self.pass([-3, -3]), statistics: statistics)
        #expect(blank.label == .invalid && blank.reason == "blank")
        #expect(throws: ClassifierError.self) { try classifier.classify(Self.pass([1, 2, 3]), statistics: statistics) }
    }

    /// Standardisation, a ReLU hidden layer and the output layer, in the order train.py writes them.
    @Test func standardisesThenRunsTheLayersInOrder() throws {
        let zeros = Array(repeating: 0, count: ImageStatistics.names.count)
        let json = """
            {"version": "test", "classes": ["valid", "overlay", "non-medical", "blank"], "embeddingModel": "m",
             "embeddingDimension": 2, "statistics": \(String(decoding: try JSONEncoder().encode(ImageStatistics.names), as: UTF8.self)),
             "inputs": ["embedding", "statistics"],
             "mean": \([1, -1] + zeros), "scale": \([2, 0.5] + zeros.map { _ in 1 }),
             "layers": [{"weights": [\([1, 0] + zeros), \([0, 1] + zeros)], "bias": [0, -1]},
                        {"weights": [[1, 0], [0, 1], [0, 0], [0, 0]], "bias": [0, 0, 0, 0]}]}
            """
        let classifier = try AnomalyClassifier(parameters: JSONDecoder().decode(AnomalyClassifier.Parameters.self, from: Data(json.utf8)))
        let statistics = ImageStatistics(Self.image(8, 8) { _, _ in (0, 0, 0) })
        // (5, 0.5) standardises to (2, 3); hidden relu(2) = 2, relu(3 - 1) = 2; logits 2, 2, 0, 0.
        let both = try classifier.classify(Self.pass([5, 0.5]), statistics: statistics)
        let e2 = exp(2.0)
        #expect(both.label == .invalid && both.reason == "overlay")
        #expect(abs(both.scores["valid"]! - e2 / (2 * e2 + 2)) < 1e-6 && abs(both.probability - (e2 + 2) / (2 * e2 + 2)) < 1e-6)
        // (5, -1) standardises to (2, 0); the second hidden unit is cut by the ReLU: logits 2, 0, 0, 0.
        let one = try classifier.classify(Self.pass([5, -1]), statistics: statistics)
        #expect(one.label == .valid && abs(one.probability - e2 / (e2 + 3)) < 1e-6)
    }

    @Test func refusesParametersThatDoNotFit() {
        #expect(throws: ClassifierError.self) { try AnomalyClassifier(parameters: Self.parameters(statistics: ["meanLuminance"])) }
        let short = Array(repeating: Array(repeating: Float(0), count: 3), count: 4)
        #expect(throws: ClassifierError.self) { try AnomalyClassifier(parameters: Self.parameters(weights: short)) }
        #expect(throws: ClassifierError.self) {
            try AnomalyClassifier(contentsOf: URL(fileURLWithPath: "/nonexistent/anomaly-classifier.json"))
        }
        #expect(throws: ClassifierError.self) { try AnomalyClassifier(parameters: Self.parameters(scale: 0)) }
        // Inputs out of their order, or repeated.
        #expect(throws: ClassifierError.self) { try AnomalyClassifier(parameters: Self.parameters(inputs: ["statistics", "embedding"])) }
        #expect(throws: ClassifierError.self) { try AnomalyClassifier(parameters: Self.parameters(inputs: ["embedding", "embedding"])) }
    }

    /// The input blocks in their order: embedding, statistics, ImageNet log-probabilities (a
    /// distribution, floored), log of the feature length.
    @Test func inputsAreTheNamedBlocksInOrder() {
        let statistics = ImageStatistics(Self.image(8, 8) { x, _ in (UInt8(x * 30), 0, 0) })
        let pass = NetworkPass(embedding: [0.6, 0.8], logits: [2, 1, 0, -40], featureNorm: 5)
        let all = AnomalyClassifier.features(pass, statistics: statistics)
        #expect(all.count == 2 + ImageStatistics.names.count + 4 + 1)
        #expect(Array(all[0..<2]) == [0.6, 0.8] && Array(all[2..<(2 + ImageStatistics.names.count)]) == statistics.values)
        let logP = Array(all[(2 + ImageStatistics.names.count)...].dropLast())
        let total = 1 + exp(-1.0) + exp(-2.0) + exp(-42.0)
        #expect(abs(Double(logP[0]) + log(total)) < 1e-5 && abs(Double(logP[1]) + 1 + log(total)) < 1e-5)
        #expect(logP[3] == NetworkPass.logProbabilityFloor)  // e^-42 is below the floor of 1e-9
        #expect(abs(all.last! - log(5)) < 1e-6)
        #expect(AnomalyClassifier.features(pass, statistics: statistics, inputs: [.embedding, .featureNorm]) == [0.6, 0.8, log(5)])
    }

    @Test func bundledParametersLoadAndRecordTheirTraining() throws {
        let classifier = try AnomalyClassifier.bundled()
        #expect(classifier.parameters.classes == ["valid", "overlay", "non-medical", "blank"])
        #expect(classifier.embeddingModel == "efficientnet-lite0/imagenet" && classifier.parameters.embeddingDimension == 1280)
        #expect(classifier.modelID.hasPrefix("anomaly/v"))
        // Whatever it is shown, the output is a probability distribution.
        let embedding = (0..<1280).map { Float(($0 * 7919) % 13) - 6 }
        let logits = (0..<1000).map { Float(($0 * 104_729) % 31) - 15 }
        let noise = ImageStatistics(Self.image(32, 32) { x, y in (UInt8((x * 37 + y * 91) % 256), UInt8((x * y) % 256), 7) })
        let finding = try classifier.classify(NetworkPass(embedding: embedding, logits: logits, featureNorm: 40), statistics: noise)
        #expect(finding.scores.values.allSatisfy { $0.isFinite && $0 >= 0 } && abs(finding.scores.values.reduce(0, +) - 1) < 1e-9)
    }
}
