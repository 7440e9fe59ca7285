import Hummingbird

extension Parameters {
    /// A path parameter as the client meant it, percent-decoded: Hummingbird hands path segments
    /// over as they came, and a Patient ID may hold spaces, `/`, `^` or non-ASCII letters.
    public func decoded(_ name: String) throws -> String {
        let raw = try require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// `decoded(_:)` for an optional parameter.
    func decodedIfPresent(_ name: String) -> String? {
        get(name).map { $0.removingPercentEncoding ?? $0 }
    }
}
