import Archive

/// Why an identity was not established or an action not allowed; carries the HTTP status it
/// answers with.
public struct AccessError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No credentials, or credentials that prove nothing (401).
        case unauthenticated
        /// Known, but not allowed (403).
        case forbidden
        /// Too many failed logins (429).
        case rateLimited
        /// A user, token or alert that does not exist (404).
        case notFound
        /// A name taken already (409).
        case conflict
        /// Wrong arguments or configuration (400).
        case invalid
        /// The index failed (500).
        case storage
        /// A service Loupe depends on (the OpenID Connect provider) cannot be reached (503).
        case unavailable
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public var httpStatus: Int {
        switch kind {
        case .unauthenticated: 401
        case .forbidden: 403
        case .rateLimited: 429
        case .notFound: 404
        case .conflict: 409
        case .invalid: 400
        case .storage: 500
        case .unavailable: 503
        }
    }

    public static func unauthenticated(_ message: String) -> AccessError { AccessError(.unauthenticated, message) }
    public static func forbidden(_ message: String) -> AccessError { AccessError(.forbidden, message) }
    public static func configuration(_ message: String) -> AccessError { AccessError(.invalid, message) }

    static func unknownRole(_ name: String, known: [String]) -> AccessError {
        AccessError(.invalid, "unknown role '\(name)' (known: \(known.joined(separator: ", ")))")
    }

    public init(_ error: AccessRecordError) {
        switch error.reason {
        case .notFound: self.init(.notFound, error.description)
        case .duplicate: self.init(.conflict, error.description)
        case .index: self.init(.storage, error.description)
        }
    }
}
