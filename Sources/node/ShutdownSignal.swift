import Dispatch
import Foundation

/// SIGINT/SIGTERM as an awaitable event.
enum ShutdownSignal {
    /// Suspends until the process receives SIGINT or SIGTERM; returns the signal's name.
    static func wait() async -> String {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "loupe.signals")
            let box = SourceBox()
            queue.sync {
                for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                    signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                    source.setEventHandler {
                        guard !box.fired else { return }
                        box.fired = true
                        box.sources.forEach { $0.cancel() }
                        continuation.resume(returning: name)
                    }
                    source.resume()
                    box.sources.append(source)
                }
            }
        }
    }

    /// Touched only on the signal queue.
    private final class SourceBox: @unchecked Sendable {
        var sources: [DispatchSourceSignal] = []
        var fired = false
    }
}
