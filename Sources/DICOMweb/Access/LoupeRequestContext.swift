import Access
import Hummingbird
import HummingbirdAuth
import NIOCore

/// The request context of every route: who is asking (set by `AccessMiddleware`) and from where.
public struct LoupeRequestContext: AuthRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated identity; nil only on open routes.
    public var identity: Access.Identity?
    /// The credential it was established from (nil: anonymous), for long requests that check it again.
    var credential: AccessControl.Credential?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The identity of a route that requires one (the middleware has checked it).
    var requester: Access.Identity {
        get throws {
            guard let identity else { throw HTTPError(.unauthorized, message: "authentication required") }
            return identity
        }
    }

    /// The peer's IP address, for the audit trail and login throttling.
    var peerAddress: String? { remoteAddress?.ipAddress }
}
