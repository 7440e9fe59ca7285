import Foundation

/// How browser sessions last and how their cookie is set.
public struct SessionPolicy: Sendable, Equatable {
    /// A session unused this long ends.
    public var idleTimeout: TimeInterval = 30 * 60
    /// A session ends this long after login, used or not.
    public var absoluteTimeout: TimeInterval = 12 * 60 * 60
    public var cookieName = "loupe_session"
    /// Mark the cookie Secure (sent over HTTPS only): set when the node serves HTTPS.
    public var secureCookie = false
    public init() {}
}

/// Who may do what on the node: the roles in force, sessions, login throttling, and an optional
/// OpenID Connect provider whose bearer tokens are accepted.
public struct AccessConfiguration: Sendable {
    public var roles: RoleCatalog
    public var sessions: SessionPolicy
    public var throttle: LoginThrottle.Policy
    public var oidc: OIDCConfiguration?
    /// The role of HTTP requests without credentials; nil (the default): they are refused. For a
    /// node on a closed network only (start-up refuses it off loopback without --insecure).
    public var anonymousRole: String?

    public init(roles: RoleCatalog, sessions: SessionPolicy = SessionPolicy(), throttle: LoginThrottle.Policy = LoginThrottle.Policy(),
                oidc: OIDCConfiguration? = nil, anonymousRole: String? = nil) {
        self.roles = roles
        self.sessions = sessions
        self.throttle = throttle
        self.oidc = oidc
        self.anonymousRole = anonymousRole
    }
}
