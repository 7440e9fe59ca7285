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

    /// Starts a login attempt: throws `rateLimited` when the user or the address has too many recent
    /// failures, else counts the attempt as a failure until `succeeded` says otherwise. Counting it
    /// first, in the same lock, means parallel guesses cannot all pass the check before any fails.
    public func begin(user: String, address: String?, now: Date = Date()) throws(AccessError) {
        let wait = failures.withLock { table -> TimeInterval? in
            var longest: TimeInterval?
            for (key, limit) in keys(user: user, address: address) {
                let recent = (table[key] ?? []).filter { now.timeIntervalSince($0) < policy.window }
                table[key] = recent
                if recent.count >= limit, let oldest = recent.first {
                    longest = max(longest ?? 0, policy.window - now.timeIntervalSince(oldest))
                }
            }
            if longest == nil {
                for (key, _) in keys(user: user, address: address) { table[key, default: []].append(now) }
                if table.count > 100_000 {  // bounded under a spray of names: forget what left the window
                    table = table.filter { now.timeIntervalSince($0.value.last ?? .distantPast) < policy.window }
                }
            }
            return longest
        }
        if let wait {
            throw AccessError(.rateLimited, "too many failed logins; try again in \(Int(wait.rounded(.up))) s")
        }
    }

    /// The attempt begun at `now` succeeded: the user's failures are forgotten, and the address's
    /// count loses this attempt.
    public func succeeded(user: String, address: String?, now: Date) {
        failures.withLock { table in
            table.removeValue(forKey: "user:" + user)
            if let address, let index = table["address:" + address]?.lastIndex(of: now) {
                table["address:" + address]?.remove(at: index)
            }
        }
    }

    private func keys(user: String, address: String?) -> [(String, Int)] {
        var keys = [("user:" + user, policy.maxFailuresPerUser)]
        if let address { keys.append(("address:" + address, policy.maxFailuresPerAddress)) }
        return keys
    }
}
