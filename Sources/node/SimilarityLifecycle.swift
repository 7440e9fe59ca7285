import Archive
import DICOMweb
import Featurizer
import Foundation
import Logging
import ServiceLifecycle

/// The similarity index as a lifecycle service: opened beside serving (queries get 503 until
/// it is ready), brought up to date every second (embeddings derived by this node's workers or
/// by `loupe reprocess`), saved every ten minutes when it changed and at shutdown.
struct SimilarityLifecycle: Service {
    let archive: Archive
    let embedder: Result<Embedder, FeaturizerError>
    let configuration: NodeConfiguration
    let provider: SimilarityProvider
    let logger: Logger

    func run() async throws {
        let embedder: Embedder
        switch self.embedder {
        case .success(let loaded): embedder = loaded
        case .failure(let error):
            provider.unavailable(error.description)  // Serve has logged why
            try? await gracefulShutdown()  // a service that returns would stop the node
            return
        }
        let archive = self.archive, logger = self.logger
        let configuration = self.configuration.similarity(model: embedder.modelID)
        let opened = await Task.detached { () -> Result<SimilaritySearch, any Error> in
            Result { try SimilaritySearch(archive: archive, embedder: embedder, configuration: configuration, logger: logger) }
        }.value
        guard case .success(let search) = opened else {
            if case .failure(let error) = opened {
                provider.unavailable("\(error)")
                logger.error("cannot open the similarity index", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdown()
            return
        }
        provider.ready(search)
        var lastSave = ContinuousClock.now
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            await Task.detached {
                do { try search.synchronize() } catch {
                    logger.error("similarity index update failed", metadata: ["error": "\(error)"])
                }
            }.value
            // Saving writes every vector (2.5 GB at a million): rarely. What a crash loses since
            // is caught up from the stored embeddings at the next start.
            if ContinuousClock.now - lastSave > .seconds(600) {
                lastSave = .now
                await Task.detached { save(search) }.value
            }
        }
        await Task.detached { save(search) }.value
    }

    private func save(_ search: SimilaritySearch) {
        do { try search.saveIfChanged() } catch {
            logger.error("cannot save the similarity index", metadata: ["error": "\(error)"])
        }
    }
}

extension NodeConfiguration {
    /// The similarity index's configuration, once the model (and so the index file's name) is known.
    func similarity(model: String) -> SimilarityConfiguration {
        SimilarityConfiguration(dataDirectory: dataDirectory, model: model, index: vectorIndex)
    }
}
