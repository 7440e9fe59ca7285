import Archive
import Classifier
import Featurizer
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import Synchronization

/// The processors this build registers, in the order they run on an instance.
enum Derivations {
    /// The photo analysis goes first: a flush alert should not wait for the PNG and the embedding.
    static let names = ["photo", "png", "embedding", "anomaly"]

    static func processors(archive: Archive, embedder: Result<Embedder, FeaturizerError>,
                           flush: FlushThresholds) -> [any DerivationProcessor] {
        let screen = embedder.mapError { ClassifierError($0.description) }
            .flatMap { embedder in Result { () throws(ClassifierError) in try AnomalyScreen(embedder: embedder, classifier: .bundled()) } }
        let processors: [any DerivationProcessor] = [
            PhotoDerivation(archive: archive, thresholds: flush),
            PNGDerivation(), EmbeddingDerivation(embedder: embedder), AnomalyDerivation(screen: screen),
        ]
        assert(processors.map(\.name) == names)
        return processors
    }

    static var policy: DerivationPolicy { DerivationPolicy(processors: names) }
}

/// Threads that take due jobs from the archive's queue and run the registered processors, off
/// the ingest path. Idle workers sleep until ingest signals, a retry falls due, or the poll
/// interval passes (jobs another process enqueued).
final class DerivationWorkers: Sendable {
    private let archive: Archive
    private let processors: [String: any DerivationProcessor]
    private let count: Int
    private let pollInterval: TimeInterval
    private let niceness: Int32
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let running = DispatchGroup()

    init(archive: Archive, processors: [any DerivationProcessor],
         count: Int = ProcessInfo.processInfo.activeProcessorCount, pollInterval: TimeInterval = 5, niceness: Int32 = 10,
         logger: Logger) {
        self.archive = archive
        self.processors = Dictionary(uniqueKeysWithValues: processors.map { ($0.name, $0) })
        self.count = max(1, count)
        self.pollInterval = pollInterval
        self.niceness = niceness
        self.logger = logger
    }

    /// Starts the workers; they run until `stop`, or with `untilDrained` until no job is pending.
    func start(untilDrained: Bool = false) {
        for index in 0..<count {
            running.enter()
            Thread.detachNewThread { [self] in
                // Below ingest and serving: on a busy machine the queue waits, not the modalities.
                // (On Linux, who = 0 is the calling thread: nice values are per thread.)
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
                work(untilDrained: untilDrained, worker: index)
                running.leave()
            }
        }
    }

    /// Lets each worker finish the instance it is on, then returns.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        archive.derivationSignal.signal()
        running.wait()
    }

    /// Blocks until every worker has returned (after `stop`, or drained).
    func wait() { running.wait() }

    private func work(untilDrained: Bool, worker: Int) {
        while !stopping.load(ordering: .relaxed) {
            let seen = archive.derivationSignal.current()
            do {
                if let claim = try archive.claimDerivations() {
                    run(claim)
                    continue
                }
                let due = try archive.nextDerivationDue()
                if untilDrained && due == nil { return }
                archive.derivationSignal.wait(after: seen, until: min(due ?? .distantFuture, Date(timeIntervalSinceNow: pollInterval)))
            } catch {
                logger.error("derivation queue unavailable", metadata: ["worker": "\(worker)", "error": "\(error)"])
                archive.derivationSignal.wait(after: seen, until: Date(timeIntervalSinceNow: pollInterval))
            }
        }
    }

    private func run(_ claim: DerivationClaim) {
        var header: Result<ImageHeader, DerivationFailure>?  // read once, for every image processor of the claim
        var context: ImageContext?
        for name in claim.processors {
            let result: Result<DerivationOutcome, DerivationFailure>
            if let processor = processors[name] as? any ImageDerivationProcessor {
                let read = header ?? Result { () throws(DerivationFailure) in try ImageHeader.read(claim.input) }
                header = read
                switch read {
                case .failure(let failure): result = .failure(failure)
                case .success(.none(let reason)): result = .success(.skipped(reason))
                case .success(.image(let dataSet)):
                    let image = context ?? ImageContext(input: claim.input, header: dataSet)
                    context = image
                    result = Result { () throws(DerivationFailure) in try processor.derive(image) }
                }
            } else if let processor = processors[name] {
                result = Result { () throws(DerivationFailure) in try processor.derive(claim.input) }
            } else {
                result = .failure(DerivationFailure("processor \(name) is not registered in this build", permanent: true))
            }
            do {
                try archive.completeDerivation(claim, processor: name, result)
            } catch {
                logger.error("cannot record a derivation", metadata: [
                    "processor": "\(name)", "sop_instance_uid": "\(claim.input.sopInstanceUID)", "error": "\(error)"])
            }
        }
    }
}

/// The workers as a lifecycle service: started with the node, stopped (current jobs finished)
/// on graceful shutdown. Unfinished jobs stay in the queue for the next start.
struct DerivationLifecycle: Service {
    let workers: DerivationWorkers
    let logger: Logger

    func run() async throws {
        workers.start()
        try? await gracefulShutdown()
        logger.info("stopping derivation workers")
        let workers = self.workers
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                workers.stop()
                done.resume()
            }
        }
    }
}
