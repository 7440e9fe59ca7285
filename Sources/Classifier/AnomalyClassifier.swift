import Featurizer
import Foundation

/// Is an image a valid medical image, or a screenshot, an error dialog, a photo of a holiday, a
/// blank frame? A small network over what EfficientNet-Lite0 makes of the image (its ImageNet class
/// probabilities, the length of its features; its embedding too if trained so: `inputs` says) and
/// the image's `ImageStatistics`, trained by
/// `scripts/classifier/train.py` (`make train-classifier`); its parameters are committed beside
/// this file with the command and seed that produced them.
public struct AnomalyClassifier: Sendable {
    /// The classes of the training set: `valid`, then the reasons an image is invalid.
    public static let validClass = "valid"
    /// Not a reason for a clinical photograph (a photo of skin is a photograph).
    public static let nonMedicalClass = "non-medical"

    public let parameters: Parameters

    /// The blocks of input a classifier may read, in the order it reads them.
    public enum Input: String, CaseIterable, Codable, Sendable {
        /// The unit-length pooled features (`embeddingDimension` values).
        case embedding
        /// `ImageStatistics`, in the order of `statistics`.
        case statistics
        /// The ImageNet head's log-probabilities (`NetworkPass.logProbabilities`): a screenshot, a
        /// cat or a web page is something ImageNet has a class for, a CT slice is not.
        case imageNetLogProbabilities = "imagenet-log-probabilities"
        /// log of the pooled features' length.
        case featureNorm = "feature-norm"
    }

    public init(parameters: Parameters) throws(ClassifierError) {
        guard parameters.inputs == Input.allCases.filter(parameters.inputs.contains) else {
            throw ClassifierError("classifier inputs \(parameters.inputs.map(\.rawValue)) are repeated or out of order")
        }
        let expected = parameters.inputs.reduce(0) { $0 + Self.width(of: $1, embeddingDimension: parameters.embeddingDimension) }
        guard parameters.statistics == ImageStatistics.names else {
            throw ClassifierError("the classifier was trained on statistics \(parameters.statistics), this build computes \(ImageStatistics.names)")
        }
        guard parameters.mean.count == expected, parameters.scale.count == expected, !parameters.layers.isEmpty,
              parameters.classes.contains(Self.validClass) else {
            throw ClassifierError("inconsistent classifier parameters")
        }
        let numbers = parameters.mean + parameters.layers.flatMap { $0.weights.joined() + $0.bias }
        guard numbers.allSatisfy(\.isFinite), parameters.scale.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw ClassifierError("classifier parameters must be finite numbers, and every scale non-zero")
        }
        var width = expected
        for layer in parameters.layers {
            guard layer.weights.allSatisfy({ $0.count == width }), layer.bias.count == layer.weights.count else {
                throw ClassifierError("inconsistent classifier layer: expected \(width) inputs per unit")
            }
            width = layer.weights.count
        }
        guard width == parameters.classes.count else { throw ClassifierError("the last layer has \(width) outputs for \(parameters.classes.count) classes") }
        self.parameters = parameters
    }

    public init(contentsOf url: URL) throws(ClassifierError) {
        let parameters: Parameters
        do {
            parameters = try JSONDecoder().decode(Parameters.self, from: Data(contentsOf: url))
        } catch {
            throw ClassifierError("cannot read classifier parameters \(url.path): \(error)")
        }
        try self.init(parameters: parameters)
    }

    /// The parameters committed with this build.
    public static func bundled() throws(ClassifierError) -> AnomalyClassifier {
        guard let url = Bundle.module.url(forResource: "anomaly-classifier", withExtension: "json") else {
            throw ClassifierError("the anomaly classifier's parameters are missing from this build")
        }
        return try AnomalyClassifier(contentsOf: url)
    }

    /// Names the parameters; stored with each finding.
    public var modelID: String { "anomaly/\(parameters.version)" }

    /// The embedding model the classifier was trained on (vectors of another are meaningless to it).
    public var embeddingModel: String { parameters.embeddingModel }

    /// `photograph`: a clinical photograph (a photo of skin): being a photograph is no reason to flag
    /// it, so the `non-medical` probability counts as valid; only an overlay or a blank frame flags it.
    public func classify(_ pass: NetworkPass, statistics: ImageStatistics, photograph: Bool = false) throws(ClassifierError) -> AnomalyFinding {
        guard pass.embedding.count == parameters.embeddingDimension else {
            throw ClassifierError("expected a \(parameters.embeddingDimension)-d embedding, got \(pass.embedding.count)")
        }
        if parameters.inputs.contains(.imageNetLogProbabilities), pass.logits.count != EfficientNetLite0.classCount {
            throw ClassifierError("expected \(EfficientNetLite0.classCount) ImageNet logits, got \(pass.logits.count)")
        }
        var activations = Self.features(pass, statistics: statistics, inputs: parameters.inputs)
        for i in activations.indices { activations[i] = (activations[i] - parameters.mean[i]) / parameters.scale[i] }
        for (index, layer) in parameters.layers.enumerated() {
            let last = index == parameters.layers.count - 1
            activations = zip(layer.weights, layer.bias).map { weights, bias in
                var sum = bias
                for i in weights.indices { sum += weights[i] * activations[i] }
                return last ? sum : max(0, sum)
            }
        }
        let top = activations.max() ?? 0
        let exponentials = activations.map { Double(exp($0 - top)) }
        let total = exponentials.reduce(0, +)
        var scores = Dictionary(uniqueKeysWithValues: zip(parameters.classes, exponentials.map { $0 / total }))
        if photograph, let nonMedical = scores[Self.nonMedicalClass] {
            // A photograph is expected here: looking like one counts for it, not against it.
            scores[Self.validClass, default: 0] += nonMedical
            scores[Self.nonMedicalClass] = 0
        }
        let valid = scores[Self.validClass] ?? 0
        if valid >= 0.5 { return AnomalyFinding(label: .valid, probability: valid, reason: nil, scores: scores) }
        let reason = scores.filter { $0.key != Self.validClass }.max { $0.value < $1.value }?.key
        return AnomalyFinding(label: .invalid, probability: 1 - valid, reason: reason, scores: scores)
    }

    /// The classifier's input: the blocks `inputs` names, in order.
    public static func features(_ pass: NetworkPass, statistics: ImageStatistics, inputs: [Input] = Input.allCases) -> [Float] {
        inputs.flatMap { input -> [Float] in
            switch input {
            case .embedding: pass.embedding
            case .statistics: statistics.values
            case .imageNetLogProbabilities: pass.logProbabilities
            case .featureNorm: [log(max(pass.featureNorm, 1e-3))]  // a dead network: far below any image, not -87
            }
        }
    }

    static func width(of input: Input, embeddingDimension: Int) -> Int {
        switch input {
        case .embedding: embeddingDimension
        case .statistics: ImageStatistics.names.count
        case .imageNetLogProbabilities: EfficientNetLite0.classCount
        case .featureNorm: 1
        }
    }

    /// As `scripts/classifier/train.py` writes them.
    public struct Parameters: Codable, Sendable {
        /// Identifies a trained set of parameters (generator version, seed, date).
        public let version: String
        public let classes: [String]
        public let embeddingModel: String
        public let embeddingDimension: Int
        public let statistics: [String]
        /// What the classifier reads, in `Input` order.
        public let inputs: [Input]
        /// Standardisation of the input: (x - mean) / scale.
        public let mean: [Float]
        public let scale: [Float]
        /// Dense layers, ReLU between them, softmax after the last.
        public let layers: [Layer]

        public struct Layer: Codable, Sendable {
            /// One row of input weights per output unit.
            public let weights: [[Float]]
            public let bias: [Float]
        }
    }
}

/// The verdict on one image.
public struct AnomalyFinding: Sendable, Equatable, Codable {
    public enum Label: String, Sendable, Codable { case valid, invalid }
    public let label: Label
    /// The probability of `label`.
    public let probability: Double
    /// Why it is invalid (`overlay`, `non-medical`, `blank`); nil when valid.
    public let reason: String?
    /// Every class's probability.
    public let scores: [String: Double]
}

public struct ClassifierError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
