import Archive
import DICOM
import Featurizer
import Foundation

/// The embedding of every image: frame 1 through EfficientNet-Lite0 (`Featurizer.Embedder`),
/// kept in the index for similarity search.
struct EmbeddingDerivation: ImageDerivationProcessor {
    let name = "embedding"
    /// The loaded model, or why there is none (then every job fails, permanently, with that reason:
    /// `loupe reprocess --failed` runs them again once the model is in place).
    let embedder: Result<Embedder, FeaturizerError>

    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let embedder: Embedder
        switch self.embedder {
        case .success(let loaded): embedder = loaded
        case .failure(let error): throw DerivationFailure("no embedding model: \(error)", permanent: true)
        }
        do {
            let pass = try embedder.pass(view: image.view())
            image.network = (embedder.modelID, pass)
            return .embedded(Embedding(model: embedder.modelID, vector: pass.embedding))
        } catch {
            throw DerivationFailure("cannot embed: \(error)")
        }
    }
}
