import Archive
import Classifier
import DICOM
import Featurizer
import Foundation

/// The anomaly finding of every image: valid medical image or not, and why (`Classifier.AnomalyScreen`
/// over frame 1's view, with the embedding the `embedding` processor computed just before, or
/// stored earlier when this job runs alone). A flagged image publishes an event on topic `anomaly`.
struct AnomalyDerivation: ImageDerivationProcessor {
    let name = "anomaly"
    let archive: Archive
    /// The classifier, or why there is none (then every job fails, permanently, with that reason).
    let screen: Result<AnomalyScreen, ClassifierError>

    /// Stored with the finding (`/api/instances/{uid}/analysis` shows it).
    struct Details: Encodable {
        let scores: [String: Double]
        /// A clinical photograph: `non-medical` was not a possible reason.
        let photograph: Bool
        let statistics: [String: Float]
        /// The embedding step's vector was used (else it was computed for the finding).
        let storedEmbedding: Bool
    }

    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let screen: AnomalyScreen
        switch self.screen {
        case .success(let loaded): screen = loaded
        case .failure(let error): throw DerivationFailure("no anomaly classifier: \(error)", permanent: true)
        }
        let model = screen.embedder.modelID
        var stored = image.embedding.flatMap { $0.model == model ? $0.vector : nil }
        if stored == nil, let found = try? archive.embedding(sopInstanceUID: image.input.sopInstanceUID), found.model == model {
            stored = found.embedding.vector
        }
        let photograph = AnomalyScreen.isClinicalPhotograph(image.header)
        do {
            let examination = try screen.examine(view: image.view(), photograph: photograph, embedding: stored)
            let finding = examination.finding
            return .found(try Finding(
                kind: name, label: finding.label.rawValue, probability: finding.probability, reason: finding.reason,
                model: screen.classifier.modelID,
                details: Details(scores: finding.scores, photograph: photograph,
                                 statistics: Dictionary(uniqueKeysWithValues: zip(ImageStatistics.names, examination.statistics.values)),
                                 storedEmbedding: stored != nil),
                publishing: finding.label == .invalid ? "anomaly" : nil))
        } catch {
            throw DerivationFailure("cannot classify: \(error)")
        }
    }
}
