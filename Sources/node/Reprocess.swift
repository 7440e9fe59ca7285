import ArgumentParser
import Archive
import Foundation
import Logging

/// `loupe reprocess`: runs derivations again (after a model or renderer update, or to retry
/// failures). Jobs are requeued in the archive; a running node picks them up, and this command
/// processes them itself until none is pending unless `--no-wait`.
struct Reprocess: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-run derivations (PNG, embedding) on archived instances.")

    @OptionGroup var options: CommonOptions

    @Flag(name: .long, help: "Every instance.")
    var all = false

    @Option(name: .long, help: "One instance, by SOP Instance UID (repeatable).")
    var instance: [String] = []

    @Flag(name: .long, help: "The jobs that failed.")
    var failed = false

    @Option(name: .long, help: "Only this processor (repeatable). Default: all registered.")
    var processor: [String] = []

    @Flag(name: .long, help: "Requeue only; leave the processing to a running node.")
    var noWait = false

    func validate() throws {
        let scopes = (all ? 1 : 0) + (instance.isEmpty ? 0 : 1) + (failed ? 1 : 0)
        guard scopes == 1 else { throw ValidationError("give exactly one of --all, --instance UID, --failed") }
    }

    func run() throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let scopes: [DerivationScope] = all ? [.all] : failed ? [.failed] : instance.map { .instance(sopInstanceUID: $0) }
        let processors = processor.isEmpty ? nil : processor
        var requeued = 0
        do {
            for scope in scopes { requeued += try archive.requeueDerivations(scope, processors: processors) }
        } catch {
            throw ValidationError("\(error)")
        }
        print("requeued \(requeued) derivation job\(requeued == 1 ? "" : "s")")
        guard !noWait else { return }
        let registered = Derivations.processors(archive: archive, embedder: Models.embedder(weights: config.modelWeights),
                                                  flush: config.flushThresholds)
        let workers = DerivationWorkers(archive: archive, processors: registered, count: max(1, config.derivationWorkers),
                                        logger: Logger(label: "loupe.derivation"))
        workers.start(untilDrained: true)
        workers.wait()
        let counts = try archive.derivationCounts()
        print(["done", "skipped", "failed", "pending", "running"].map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", "))
        if counts["failed", default: 0] > 0 { throw ExitCode(1) }
    }
}
