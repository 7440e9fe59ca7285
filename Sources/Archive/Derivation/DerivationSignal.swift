import Foundation

/// Wakes idle derivation workers when jobs are enqueued in this process (ingest, requeue).
/// Workers also wake on a timeout, which picks up jobs another process enqueued and retries
/// whose back-off has passed.
public final class DerivationSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var generation = 0

    /// Wakes one idle worker (one instance arrived), or all (many jobs became due, or stop).
    public func signal(all: Bool = true) {
        condition.lock()
        generation &+= 1
        if all { condition.broadcast() } else { condition.signal() }
        condition.unlock()
    }

    /// The current generation; pass it to `wait` so a signal between looking and waiting is not missed.
    public func current() -> Int {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    /// Blocks until a signal after `seen`, or until `deadline`.
    public func wait(after seen: Int, until deadline: Date) {
        condition.lock()
        defer { condition.unlock() }
        while generation == seen, condition.wait(until: deadline) {}
    }
}
