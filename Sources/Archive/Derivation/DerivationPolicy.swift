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

    public init(processors: [String] = [], maxAttempts: Int = 5, firstRetryDelay: TimeInterval = 1, backoffFactor: Double = 4) {
        self.processors = processors
        self.maxAttempts = maxAttempts
        self.firstRetryDelay = firstRetryDelay
        self.backoffFactor = backoffFactor
    }

    /// Delay after the `attempt`-th (1-based) failed attempt: 1, 4, 16, 64 s by default.
    func retryDelay(afterAttempt attempt: Int) -> TimeInterval {
        firstRetryDelay * pow(backoffFactor, Double(max(0, attempt - 1)))
    }
}
