import Dispatch

/// Runs blocking work (the archive's SQLite and file calls, DCMTK rendering) on a GCD queue,
/// never on the Swift concurrency pool that serves HTTP.
public func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try work() })
        }
    }
}
