import Foundation

/// Any JSON value: what the index keeps as JSON text (a derived file's parameters, a finding's
/// details), decoded to be embedded in a response as is.
enum JSONValue: Codable, Sendable, Equatable {
    case null, flag(Bool), number(Double), text(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .flag(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let t = try? c.decode(String.self) { self = .text(t) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .flag(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .text(let t): try c.encode(t)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// A JSON object from its text; `what` names it in the error.
    static func object(parsing text: String, what: String) throws -> [String: JSONValue] {
        do {
            return try JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))
        } catch {
            throw WebError.internalError("\(what) is not a JSON object: \(error)")
        }
    }

    var number: Double? { if case .number(let n) = self { n } else { nil } }
    var text: String? { if case .text(let t) = self { t } else { nil } }
}
