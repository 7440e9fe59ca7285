import ArgumentParser
import Archive
import DIMSE
import Foundation
import Logging

/// `loupe serve`: the archive and the DIMSE service, until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the node (DIMSE SCP on the archive).")

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Seconds to let open associations finish on shutdown.")
    var shutdownGrace: Int = 30

    func run() async throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: config.logLevel, format: config.logFormat)
        let logger = Logger(label: "loupe")
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let server = try DIMSEServer(configuration: config.dimse, archive: archive, logger: Logger(label: "loupe.dimse"))
        logger.info("Loupe is running", metadata: [
            "data": "\(config.dataDirectory.path)", "ae": "\(config.dimse.aeTitle)", "dimse_port": "\(server.port)",
            "peers": "\(config.dimse.peers.map(\.description).joined(separator: ","))"])

        let signal = await ShutdownSignal.wait()
        logger.info("shutting down", metadata: ["signal": "\(signal)", "open_associations": "\(server.activeAssociations)"])
        let grace = shutdownGrace
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            // stop() blocks while associations finish: keep it off the concurrency pool.
            Thread.detachNewThread {
                server.stop(grace: grace)
                done.resume()
            }
        }
        logger.info("stopped")
    }
}
