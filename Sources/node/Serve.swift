import ArgumentParser
import Archive
import DICOMweb
import DIMSE
import Featurizer
import Foundation
import Logging
import ServiceLifecycle

/// `loupe serve`: the archive, the DIMSE service, the HTTP service and the derivation workers,
/// until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the node: DIMSE and DICOMweb on the archive.")

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Seconds to let open associations finish on shutdown.")
    var shutdownGrace: Int = 30

    func run() async throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: config.logLevel, format: config.logFormat)
        let logger = Logger(label: "loupe")
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let dimse = try DIMSEServer(configuration: config.dimse, archive: archive, logger: Logger(label: "loupe.dimse"))
        let embedder = Models.embedder(weights: config.modelWeights)
        if case .failure(let error) = embedder {
            logger.warning("no embedding model: embedding and anomaly jobs fail and similarity search is off", metadata: ["reason": "\(error)"])
        }
        let similarity = SimilarityProvider()
        let web = DICOMwebService(archive: archive, configuration: config.web, similarity: similarity, logger: Logger(label: "loupe.web"))
        var services: [any Service] = [
            web.application(), DIMSELifecycle(server: dimse, grace: shutdownGrace, logger: logger),
            SimilarityLifecycle(archive: archive, embedder: embedder, configuration: config, provider: similarity,
                                logger: Logger(label: "loupe.similarity")),
            EventRetention(archive: archive, days: config.eventRetentionDays, logger: Logger(label: "loupe.events")),
        ]
        if let mqtt = config.mqtt {
            services.append(AlertPublisher(archive: archive, client: try MQTTClient(mqtt),
                                           cursorFile: config.dataDirectory.appendingPathComponent("mqtt-cursor"),
                                           logger: Logger(label: "loupe.mqtt")))
        }
        if config.derivationWorkers > 0 {
            let workers = DerivationWorkers(archive: archive, processors: Derivations.processors(archive: archive, embedder: embedder, flush: config.flushThresholds),
                                            count: config.derivationWorkers, logger: Logger(label: "loupe.derivation"))
            services.append(DerivationLifecycle(workers: workers, logger: logger))
        } else {
            logger.notice("derivations paused (0 workers): jobs queue up for a later start or `loupe reprocess`")
        }
        logger.info("Loupe is running", metadata: [
            "data": "\(config.dataDirectory.path)", "ae": "\(config.dimse.aeTitle)", "dimse_port": "\(dimse.port)",
            "http": "\(config.web.host):\(config.web.port)\(DICOMwebConfiguration.rootPath)",
            "peers": "\(config.dimse.peers.map(\.description).joined(separator: ","))",
            "derivations": "\(config.archive.derivation.processors.joined(separator: ","))",
            "derivation_workers": "\(config.derivationWorkers)"])
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}

/// The DIMSE server as a lifecycle service: runs until graceful shutdown, then lets open
/// associations finish (on its own thread: stopping blocks).
struct DIMSELifecycle: Service {
    let server: DIMSEServer
    let grace: Int
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down DIMSE", metadata: ["open_associations": "\(server.activeAssociations)"])
        let server = self.server, grace = self.grace
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                server.stop(grace: grace)
                done.resume()
            }
        }
    }
}
