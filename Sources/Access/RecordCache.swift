import Synchronization

/// Access records (tokens, sessions, users) read from the index, reused until anything commits to
/// it (`Archive.changeCounter`): a revoked token or an ended session is a commit, so it is seen by
/// the very next request, while the steady stream of requests between commits reads nothing.
final class RecordCache<Value: Sendable>: Sendable {
    private struct State {
        var version: Int64 = -1
        /// nil values are remembered too: an unknown secret stays unknown until something commits.
        var values: [String: Value?] = [:]
    }

    private let state = Mutex(State())
    static var capacity: Int { 10_000 }

    /// The value for `key` as of `version`, loading it when the cache is older or lacks it.
    func value(for key: String, version: Int64, load: () throws(AccessError) -> Value?) throws(AccessError) -> Value? {
        let cached: Value?? = state.withLock { s in
            if s.version != version {
                s.values.removeAll(keepingCapacity: true)
                s.version = version
                return nil
            }
            return s.values[key]
        }
        if let cached { return cached }
        let loaded = try load()
        state.withLock { s in
            guard s.version == version else { return }  // something committed meanwhile: do not keep it
            if s.values.count >= Self.capacity { s.values.removeAll(keepingCapacity: true) }
            s.values[key] = .some(loaded)
        }
        return loaded
    }
}
