import Foundation
import Synchronization

/// Slows password guessing: after `maxFailuresPerUser` failed logins for one user name, or
/// `maxFailuresPerAddress` from one address, within `window`, further attempts for it are refused
/// (429) until the oldest failure leaves the window. A success clears the user's count. Kept in
/// memory, per node.
public final class LoginThrottle: Sendable {
    public struct Policy: Sendable, Equatable {
        public var maxFailuresPerUser = 5
        public var maxFailuresPerAddress = 20
        public var window: TimeInterval = 15 * 60
        public init() {}
    }

    public let policy: Policy
    private let failures = Mutex<[String: [Date]]>([:])

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Throws `rateLimited` when either the user or the address has too many recent failures.
    public func check(user: String, address: String?, now: Date = Date()) throws(AccessError) {
        let wait = failures.withLock { table -> TimeInterval? in
            var longest: TimeInterval?
            for (key, limit) in keys(user: user, address: address) {
                let recent = (table[key] ?? []).filter { now.timeIntervalSince($0) < policy.window }
                table[key] = recent
                if recent.count >= limit, let oldest = recent.first {
                    longest = max(longest ?? 0, policy.window - now.timeIntervalSince(oldest))
                }
            }
            return longest
        }
        if let wait {
            throw AccessError(.rateLimited, "too many failed logins; try again in \(Int(wait.rounded(.up))) s")
        }
    }

    public func recordFailure(user: String, address: String?, now: Date = Date()) {
        failures.withLock { table in
            for (key, _) in keys(user: user, address: address) { table[key, default: []].append(now) }
            if table.count > 100_000 {  // bounded under a spray of names: forget what left the window
                table = table.filter { now.timeIntervalSince($0.value.last ?? .distantPast) < policy.window }
            }
        }
    }

    public func recordSuccess(user: String) {
        _ = failures.withLock { $0.removeValue(forKey: "user:" + user) }
    }

    private func keys(user: String, address: String?) -> [(String, Int)] {
        var keys = [("user:" + user, policy.maxFailuresPerUser)]
        if let address { keys.append(("address:" + address, policy.maxFailuresPerAddress)) }
        return keys
    }
}
