import DICOM
import Featurizer
import Foundation
import Imaging

/// The anomaly classifier over the embedder it was trained with: screens the network's view of an
/// image (`Embedder.view` of a stored image or of a decoded picture), as the pipeline does.
public struct AnomalyScreen: Sendable {
    public let embedder: Embedder
    public let classifier: AnomalyClassifier

    public init(embedder: Embedder, classifier: AnomalyClassifier) throws(ClassifierError) {
        guard embedder.modelID == classifier.embeddingModel else {
            throw ClassifierError("the classifier was trained on \(classifier.embeddingModel) embeddings, the node computes \(embedder.modelID)")
        }
        self.embedder = embedder
        self.classifier = classifier
    }

    /// What the classifier reads of an image, and its verdict.
    public struct Examination: Sendable {
        public let finding: AnomalyFinding
        public let statistics: ImageStatistics
    }

    /// An image's view (`Embedder.view`); `pass`: the network's pass over it when already made.
    public func examine(view: RGBImage, photograph: Bool, pass known: NetworkPass? = nil) throws(ClassifierError) -> Examination {
        guard view.columns >= 1, view.rows >= 1, view.pixels.count == view.columns * view.rows * 3 else {
            throw ClassifierError("a \(view.columns)×\(view.rows) view needs \(max(0, view.columns * view.rows * 3)) RGB bytes, not \(view.pixels.count)")
        }
        let pass: NetworkPass
        if let known {
            pass = known
        } else {
            do { pass = try embedder.pass(view: view) } catch { throw ClassifierError(error.description) }
        }
        let statistics = ImageStatistics(view)
        return Examination(finding: try classifier.classify(pass, statistics: statistics, photograph: photograph),
                           statistics: statistics)
    }

    /// Clinical photographs (of skin: flush and lesion photos) are colour photographs by nature:
    /// External-camera Photography or Dermoscopy, or a VL photographic SOP class.
    public static func isClinicalPhotograph(sopClassUID: String?, modality: String?) -> Bool {
        let photographic: Set<String> = [
            "1.2.840.10008.5.1.4.1.1.77.1.4",  // VL Photographic Image Storage
            "1.2.840.10008.5.1.4.1.1.77.1.4.1",  // Video Photographic Image Storage
            "1.2.840.10008.5.1.4.1.1.77.1.7",  // Dermoscopic Photography Image Storage
        ]
        return ["XC", "DMS"].contains(modality ?? "") || photographic.contains(sopClassUID ?? "")
    }

    public static func isClinicalPhotograph(_ dataSet: DataSet) -> Bool {
        isClinicalPhotograph(sopClassUID: dataSet.string(.sopClassUID), modality: dataSet.string(.modality))
    }
}
