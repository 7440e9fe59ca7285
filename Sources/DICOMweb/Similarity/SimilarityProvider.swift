import Synchronization

/// The node's similarity search once it is ready: opening it (loading or rebuilding the index)
/// runs beside serving, and queries meanwhile are answered 503 with the reason.
public final class SimilarityProvider: Sendable {
    private enum State {
        case loading
        case ready(SimilaritySearch)
        case unavailable(String)
    }

    private let state: Mutex<State>

    public init() { state = Mutex(.loading) }

    public init(_ search: SimilaritySearch) { state = Mutex(.ready(search)) }

    public init(unavailable reason: String) { state = Mutex(.unavailable(reason)) }

    public func ready(_ search: SimilaritySearch) { state.withLock { $0 = .ready(search) } }

    public func unavailable(_ reason: String) { state.withLock { $0 = .unavailable(reason) } }

    /// The search, or the error a query gets while there is none.
    public func search() throws(SimilarityError) -> SimilaritySearch {
        let current: SimilaritySearch? = state.withLock { state in
            if case .ready(let search) = state { return search }
            return nil
        }
        if let current { return current }
        throw state.withLock { state -> SimilarityError in
            switch state {
            case .loading: SimilarityError(status: 503, "the similarity index is loading; try again shortly")
            case .unavailable(let reason): SimilarityError(status: 503, "similarity search is unavailable: \(reason)")
            case .ready: SimilarityError(status: 500, "similarity search state changed during the call")
            }
        }
    }
}
