import Foundation

/// Something computed from every incoming instance after it is acknowledged (a rendered PNG, an
/// embedding, a finding). `node` registers processors; the archive keeps a durable job per
/// instance and processor, and its workers call `derive` for each due job.
public protocol DerivationProcessor: Sendable {
    /// Names the job rows; stable across releases.
    var name: String { get }
    /// Runs on a worker thread; may block.
    func derive(_ instance: DerivationInput) throws(DerivationFailure) -> DerivationOutcome
}

/// An instance whose derivations are due, as a processor sees it.
public struct DerivationInput: Sendable {
    public let sopInstanceUID: String
    public let sopClassUID: String
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let fileURL: URL
    /// Image Pixel attributes from the index; nil for instances without pixel data.
    public let rows: Int?
    public let columns: Int?
    public let numberOfFrames: Int?
}

public enum DerivationOutcome: Sendable {
    /// Files to keep for the instance (replacing earlier ones of the same kind).
    case derived([DerivedFile])
    /// A vector describing the image, kept in the index (one per instance, the latest).
    case embedded(Embedding)
    /// What a model concluded about the image (one per instance and kind, the latest).
    case found(Finding)
    /// Nothing to derive for this instance (e.g. a structured report has no image); the reason is kept.
    case skipped(String)
}

/// A file derived from an instance: one per instance and `kind`, named
/// `<SOPInstanceUID>.<fileExtension>` (or `<SOPInstanceUID>-<kind>.<fileExtension>` when the kind
/// is not the extension).
public struct DerivedFile: Sendable {
    public let kind: String
    public let fileExtension: String
    public let bytes: [UInt8]
    /// What produced it (window, rescale, frame, model), as a JSON object.
    public let parameters: String

    public init(kind: String, fileExtension: String, bytes: [UInt8], parameters: some Encodable) throws {
        self.kind = kind
        self.fileExtension = fileExtension
        self.bytes = bytes
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.parameters = String(decoding: try encoder.encode(parameters), as: UTF8.self)
    }

    func name(sopInstanceUID: String) -> String {
        kind == fileExtension ? "\(sopInstanceUID).\(fileExtension)" : "\(sopInstanceUID)-\(kind).\(fileExtension)"
    }
}

/// An image's feature vector and the model that produced it (vectors of different models are
/// not comparable).
public struct Embedding: Sendable, Equatable {
    public let model: String
    public let vector: [Float]

    public init(model: String, vector: [Float]) {
        self.model = model
        self.vector = vector
    }
}

/// A model's conclusion about an instance: `label` (e.g. `valid` / `invalid`), how probable it is,
/// why, and the measurements behind it.
public struct Finding: Sendable, Equatable {
    /// What was examined, e.g. `anomaly`.
    public let kind: String
    public let label: String
    public let probability: Double?
    public let reason: String?
    /// The model (and version) that concluded it.
    public let model: String
    /// A JSON object.
    public let details: String
    /// When set, storing the finding publishes an event on this topic (in the same transaction).
    public let topic: String?

    public init(kind: String, label: String, probability: Double?, reason: String?, model: String,
                details: some Encodable, publishing topic: String? = nil) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.init(kind: kind, label: label, probability: probability, reason: reason, model: model,
                  json: String(decoding: try encoder.encode(details), as: UTF8.self), topic: topic)
    }

    init(kind: String, label: String, probability: Double?, reason: String?, model: String, json details: String, topic: String? = nil) {
        (self.kind, self.label, self.probability, self.reason, self.model, self.details) = (kind, label, probability, reason, model, details)
        self.topic = topic
    }
}

/// A finding as the index holds it.
public struct StoredFinding: Sendable, Equatable {
    public let finding: Finding
    public let createdAt: String
}

/// A derivation that did not succeed. Transient ones are retried with back-off; permanent ones
/// (and transient ones out of attempts) are recorded as failed with the message.
public struct DerivationFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let permanent: Bool

    public init(_ message: String, permanent: Bool = false) {
        self.message = message
        self.permanent = permanent
    }

    public var description: String { message }
}
