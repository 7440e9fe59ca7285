import Foundation

/// Which processors run on every instance, and how failures are retried.
public struct DerivationPolicy: Sendable {
    /// Names of the registered processors, in the order they run on an instance.
    public var processors: [String]
    /// Attempts before a transiently failing job is recorded as failed.
    public var maxAttempts: Int
    /// Delay before the first retry; each further retry waits `backoffFactor` times longer.
    public var firstRetryDelay: TimeInterval
    public var backoffFactor: Double
    /// A job still running after this long was abandoned (its process died while another process
    /// had the archive open, so no open recovered it) and is claimed again; should the first claim
    /// ever complete, it is refused as stale.
    public var abandonedAfter: TimeInterval

    public init(processors: [String] = [], maxAttempts: Int = 5, firstRetryDelay: TimeInterval = 1, backoffFactor: Double = 4,
                abandonedAfter: TimeInterval = 900) {
        self.processors = processors
        self.maxAttempts = maxAttempts
        self.firstRetryDelay = firstRetryDelay
        self.backoffFactor = backoffFactor
        self.abandonedAfter = abandonedAfter
    }

    /// Delay after the `attempt`-th (1-based) failed attempt: 1, 4, 16, 64 s by default.
    func retryDelay(afterAttempt attempt: Int) -> TimeInterval {
        firstRetryDelay * pow(backoffFactor, Double(max(0, attempt - 1)))
    }
}
