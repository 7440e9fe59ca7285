import Archive
import Classifier
import DICOM
import Featurizer
import Foundation

/// The anomaly finding of every image: valid medical image or not, and why (`Classifier.AnomalyScreen`
/// over frame 1's view, with the network pass the `embedding` processor made just before, or its own
/// when this job runs alone). A flagged image publishes an event on topic `anomaly`.
struct AnomalyDerivation: ImageDerivationProcessor {
    let name = "anomaly"
    /// The classifier, or why there is none (then every job fails, permanently, with that reason).
    let screen: Result<AnomalyScreen, ClassifierError>

    /// Stored with the finding (`/api/instances/{uid}/analysis` shows it).
    struct Details: Encodable {
        let scores: [String: Double]
        /// A clinical photograph: `non-medical` was not a possible reason.
        let photograph: Bool
        let statistics: [String: Float]
        /// The embedding step's network pass was used (else the network ran for the finding).
        let sharedNetworkPass: Bool
    }

    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let screen: AnomalyScreen
        switch self.screen {
        case .success(let loaded): screen = loaded
        case .failure(let error): throw DerivationFailure("no anomaly classifier: \(error)", permanent: true)
        }
        let shared = image.network.flatMap { $0.model == screen.embedder.modelID ? $0.pass : nil }
        let photograph = AnomalyScreen.isClinicalPhotograph(image.header)
        do {
            let examination = try screen.examine(view: image.view(), photograph: photograph, pass: shared)
            let finding = examination.finding
            return .found(try Finding(
                kind: name, label: finding.label.rawValue, probability: finding.probability, reason: finding.reason,
                model: screen.classifier.modelID,
                details: Details(scores: finding.scores, photograph: photograph,
                                 statistics: Dictionary(uniqueKeysWithValues: zip(ImageStatistics.names, examination.statistics.values)),
                                 sharedNetworkPass: shared != nil),
                publishing: finding.label == .invalid ? "anomaly" : nil))
        } catch {
            throw DerivationFailure("cannot classify: \(error)")
        }
    }
}
