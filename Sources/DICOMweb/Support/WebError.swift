import Hummingbird

/// A request the service refuses, with the HTTP status and a message saying why (as JSON:
/// `{"error": {"message": "..."}}`, which is what Hummingbird's HTTPError renders).
enum WebError {
    static func badRequest(_ message: String) -> HTTPError { HTTPError(.badRequest, message: message) }
    static func notFound(_ message: String) -> HTTPError { HTTPError(.notFound, message: message) }
    static func notAcceptable(_ message: String) -> HTTPError { HTTPError(.notAcceptable, message: message) }
    static func unsupportedMediaType(_ message: String) -> HTTPError { HTTPError(.unsupportedMediaType, message: message) }
    static func internalError(_ message: String) -> HTTPError { HTTPError(.internalServerError, message: message) }
    static func gone(_ message: String) -> HTTPError { HTTPError(.gone, message: message) }
    static func unavailable(_ message: String) -> HTTPError { HTTPError(.serviceUnavailable, message: message) }
}
