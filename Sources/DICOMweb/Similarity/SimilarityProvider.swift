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

    /// True until the index is loaded or known to be unavailable.
    public var isLoading: Bool { state.withLock { if case .loading = $0 { true } else { false } } }

    /// Embeddings in the index; nil while there is none.
    public var vectorCount: Int? { state.withLock { if case .ready(let search) = $0 { search.count } else { nil } } }

    /// The search, or the error a query gets while there is none.
    public func search() throws(SimilarityError) -> SimilaritySearch {
        try state.withLock { state -> Result<SimilaritySearch, SimilarityError> in
            switch state {
            case .ready(let search): .success(search)
            case .loading: .failure(SimilarityError(status: 503, "the similarity index is loading; try again shortly"))
            case .unavailable(let reason): .failure(SimilarityError(status: 503, "similarity search is unavailable: \(reason)"))
            }
        }.get()
    }
}
