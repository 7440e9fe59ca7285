import Foundation

/// The query string as name/value pairs in order, decoded leniently: `+` is a space (HTML forms,
/// Python's requests) and percent-escapes are decoded in names and values.
package struct RequestQuery: Sendable {
    let pairs: [(name: String, value: String)]

    /// - Parameter query: the raw query string (`request.uri.query`).
    package init(_ query: String?) {
        guard let query, !query.isEmpty else {
            pairs = []
            return
        }
        pairs = query.split(separator: "&", omittingEmptySubsequences: true).map { item in
            let pieces = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : "")
        }
    }

    /// The last value given for a name (case-insensitive).
    subscript(_ name: String) -> String? {
        pairs.last { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    func all(_ name: String) -> [String] {
        pairs.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// A non-negative integer parameter; a malformed one is a 400.
    func integer(_ name: String) throws -> Int? {
        guard let text = self[name], !text.isEmpty else { return nil }
        guard let value = Int(text), value >= 0 else { throw WebError.badRequest("\(name) must be a non-negative integer, not '\(text)'") }
        return value
    }

    /// A true/false parameter (`true`, `1`, `false`, `0`; missing or empty: false); anything else is a 400.
    func flag(_ name: String) throws -> Bool {
        switch self[name]?.lowercased() {
        case nil, "", "false", "0": false
        case "true", "1": true
        case let other?: throw WebError.badRequest("\(name) must be true or false, not '\(other)'")
        }
    }
}
