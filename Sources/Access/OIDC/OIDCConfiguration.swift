import Foundation

/// The site's OpenID Connect provider (Keycloak or similar), whose access tokens Loupe accepts as
/// `Authorization: Bearer` JWTs.
public struct OIDCConfiguration: Sendable, Equatable {
    /// The `iss` tokens must carry, e.g. `https://sso.example.org/realms/hospital`.
    public var issuer: String
    /// This node's client ID: `aud` must contain it (or `azp` be it, as Keycloak sends tokens whose
    /// audience is only `account` unless an audience mapper is set up).
    public var audience: String
    /// The issuer's key set; nil: discovered from `{issuer}/.well-known/openid-configuration`.
    public var jwksURL: URL?
    /// Where the roles are in the token: a dot-separated path to a string or an array of strings.
    public var rolesClaim: String = "realm_access.roles"
    /// The claim naming the user in the audit trail (else `sub`).
    public var usernameClaim: String = "preferred_username"
    /// Provider role names → Loupe role names; a provider role that is not mapped counts if it is a
    /// Loupe role's own name.
    public var roleMapping: [String: String] = [:]
    /// Clock skew allowed on `exp` and `nbf`.
    public var leeway: TimeInterval = 60
    /// How long fetched keys are used before they are fetched again (an unknown `kid` fetches at once,
    /// at most every `refetchInterval`).
    public var keyLifetime: TimeInterval = 3600
    public var refetchInterval: TimeInterval = 30

    public init(issuer: String, audience: String, jwksURL: URL? = nil) {
        self.issuer = issuer
        self.audience = audience
        self.jwksURL = jwksURL
    }
}
