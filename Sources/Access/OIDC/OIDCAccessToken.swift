import Foundation
import JWTKit

/// The payload of an OIDC access token: the registered claims Loupe checks, and the whole payload
/// as JSON, for the configurable roles and user name claims.
struct OIDCAccessToken: JWTPayload {
    let iss: IssuerClaim
    let aud: AudienceClaim?
    let exp: ExpirationClaim
    let nbf: NotBeforeClaim?
    let sub: SubjectClaim?
    let azp: String?
    let all: [String: JWTHeaderField]

    private enum CodingKeys: String, CodingKey { case iss, aud, exp, nbf, sub, azp }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iss = try c.decode(IssuerClaim.self, forKey: .iss)
        aud = try c.decodeIfPresent(AudienceClaim.self, forKey: .aud)
        exp = try c.decode(ExpirationClaim.self, forKey: .exp)
        nbf = try c.decodeIfPresent(NotBeforeClaim.self, forKey: .nbf)
        sub = try c.decodeIfPresent(SubjectClaim.self, forKey: .sub)
        azp = try c.decodeIfPresent(String.self, forKey: .azp)
        all = try decoder.singleValueContainer().decode([String: JWTHeaderField].self)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(all)
    }

    /// Claims are checked in `claims(configuration:now:)`, which knows the issuer and audience.
    func verify(using _: some JWTAlgorithm) async throws {}

    /// Checks issuer, audience, expiry and not-before (with leeway), and reads user and roles.
    func claims(configuration: OIDCConfiguration, now: Date) throws(AccessError) -> OIDCClaims {
        guard iss.value == configuration.issuer else {
            throw AccessError.unauthenticated("token issuer \(iss.value) is not \(configuration.issuer)")
        }
        guard aud?.value.contains(configuration.audience) == true || azp == configuration.audience else {
            throw AccessError.unauthenticated("token is not meant for \(configuration.audience) (aud/azp)")
        }
        guard now.addingTimeInterval(-configuration.leeway) < exp.value else { throw AccessError.unauthenticated("token expired") }
        if value(at: "typ")?.asString == "ID" {  // Keycloak marks its ID tokens so; they prove a login to the client, not access
            throw AccessError.unauthenticated("an ID token is not an access token")
        }
        if let nbf, nbf.value > now.addingTimeInterval(configuration.leeway) {
            throw AccessError.unauthenticated("token is not valid yet (nbf)")
        }
        let name = value(at: configuration.usernameClaim)?.asString ?? sub?.value
        guard let name, !name.isEmpty else { throw AccessError.unauthenticated("token names no user (\(configuration.usernameClaim) or sub)") }
        let granted: [String]
        switch value(at: configuration.rolesClaim) {
        case .string(let role): granted = [role]
        case .array(let roles): granted = roles.compactMap(\.asString)
        default: granted = []
        }
        let roles = granted.map { configuration.roleMapping[$0] ?? $0 }
        return OIDCClaims(subject: name, roles: Array(Set(roles)).sorted(), expires: exp.value)
    }

    /// The value at a dot-separated path (`realm_access.roles`).
    func value(at path: String) -> JWTHeaderField? {
        var node = JWTHeaderField.object(all)
        for key in path.split(separator: ".") {
            guard let next = node.asObject?[String(key)] else { return nil }
            node = next
        }
        return node
    }
}
