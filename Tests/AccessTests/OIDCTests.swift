@testable import Access
import Archive
import Crypto
import _CryptoExtras
import Foundation
import Hummingbird
import HummingbirdTesting
import JWTKit
import LoupeTestSupport
import Synchronization
import Testing

/// OIDC bearer tokens: keys the test generates, served as a JWKS (and a discovery document) by an
/// HTTP server of the test on loopback, as Keycloak would.
@Suite struct OIDCTests {
    static let issuer = "http://127.0.0.1/realms/hospital"

    /// The provider: its signing keys, and the key set it publishes (which a test can rotate).
    final class Provider: Sendable {
        let rsa = try! Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let rsaNext = try! Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let ec = ES256PrivateKey()
        let published = Mutex<[String]>(["rsa-1", "ec-1"])
        let fetches = Mutex(0)

        func jwks() throws -> String {
            var keys: [JWK] = []
            for kid in published.withLock({ $0 }) {
                switch kid {
                case "rsa-1", "rsa-2":
                    let p = try (kid == "rsa-1" ? rsa : rsaNext).publicKey.getKeyPrimitives()
                    keys.append(.rsa(.rs256, identifier: JWKIdentifier(string: kid), modulus: p.modulus.base64URL, exponent: p.publicExponent.base64URL))
                default:
                    let (x, y) = ec.parameters!
                    keys.append(.ecdsa(.es256, identifier: JWKIdentifier(string: kid), x: x, y: y, curve: .p256))
                }
            }
            var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(JWKS(keys: keys))) as! [String: Any]
            // Keycloak also publishes an encryption key, which must not spoil the set.
            json["keys"] = (json["keys"] as! [[String: Any]]) + [["kid": "enc-1", "kty": "RSA", "use": "enc", "alg": "RSA-OAEP-256", "n": "AQAB", "e": "AQAB"]]
            return String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        }

        func signer() async -> JWTKeyCollection {
            let keys = JWTKeyCollection()
            await keys.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa-1")
            await keys.add(rsa: rsaNext, digestAlgorithm: .sha256, kid: "rsa-2")
            await keys.add(ecdsa: ec, kid: "ec-1")
            return keys
        }
    }

    struct Claims: JWTPayload {
        var iss = OIDCTests.issuer
        var aud: [String] = ["account", "loupe"]
        var azp: String? = nil
        var exp = Date().addingTimeInterval(300).timeIntervalSince1970
        var nbf: Double? = nil
        var sub = "1b6e-uuid"
        var preferred_username = "dr.rossi"
        var realm_access = ["roles": ["radiologist", "offline_access"]]
        var groups: [String]? = nil
        func verify(using _: some JWTAlgorithm) async throws {}
    }

    /// Runs `body` with a verifier against the provider served on loopback.
    func withProvider(_ configure: @escaping @Sendable (inout OIDCConfiguration) -> Void = { _ in },
                      _ body: @escaping @Sendable (Provider, AccessControl) async throws -> Void) async throws {
        let provider = Provider()
        let router = Router()
        router.get("realms/hospital/.well-known/openid-configuration") { request, _ in
            let port = request.head.authority?.split(separator: ":").last ?? ""
            return #"{"issuer":"http://127.0.0.1:\#(port)/realms/hospital","jwks_uri":"http://127.0.0.1:\#(port)/realms/hospital/certs"}"#
        }
        router.get("realms/hospital/certs") { _, _ in
            provider.fetches.withLock { $0 += 1 }
            return try provider.jwks()
        }
        let store = try TemporaryArchive()
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            // The key set's URL is configured (jwks_url); discovery is tested on its own.
            var oidc = OIDCConfiguration(issuer: Self.issuer, audience: "loupe",
                                         jwksURL: URL(string: "http://127.0.0.1:\(client.port!)/realms/hospital/certs"))
            configure(&oidc)
            if oidc.issuer != Self.issuer { oidc.issuer = "http://127.0.0.1:\(client.port!)/realms/hospital" }
            let access = AccessControl(archive: store.archive, configuration: AccessConfiguration(roles: try RoleCatalog(), oidc: oidc))
            try await body(provider, access)
        }
    }

    func authenticate(_ access: AccessControl, _ token: String) async throws -> Identity {
        try await access.authenticate(.bearer(token), address: "10.3.3.3")
    }

    func expectRefused(_ access: AccessControl, _ token: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await access.authenticate(.bearer(token), address: nil)
            Issue.record("accepted a token that should be refused (\(reason))", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == .unauthenticated, sourceLocation: sourceLocation)
            #expect(error.message.contains(reason), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func validRSAAndECTokensGiveTheirRoles() async throws {
        try await withProvider { provider, access in
            let keys = await provider.signer()
            let identity = try await authenticate(access, try await keys.sign(Claims(), kid: "rsa-1"))
            #expect(identity.name == "dr.rossi" && identity.kind == .oidc && identity.roles == ["radiologist"])
            #expect(identity.may(.similar) && !identity.may(.admin))
            let ec = try await authenticate(access, try await keys.sign(Claims(preferred_username: "nurse.b", realm_access: ["roles": ["nurse"]]), kid: "ec-1"))
            #expect(ec.name == "nurse.b" && ec.may(.events("flush")))
        }
    }

    @Test func theKeySetIsFoundThroughDiscovery() async throws {
        try await withProvider({ $0.jwksURL = nil; $0.issuer = "discovered" }) { provider, access in
            let keys = await provider.signer()
            let issuer = try #require(access.configuration.oidc?.issuer)
            let identity = try await authenticate(access, try await keys.sign(Claims(iss: issuer), kid: "rsa-1"))
            #expect(identity.name == "dr.rossi")
            #expect(provider.fetches.withLock { $0 } == 1)
        }
    }

    @Test func expiryAndNotBeforeAllowALittleSkew() async throws {
        try await withProvider { provider, access in
            let keys = await provider.signer()
            let now = Date().timeIntervalSince1970
            _ = try await authenticate(access, try await keys.sign(Claims(exp: now - 30), kid: "rsa-1"))        // within 60 s
            await expectRefused(access, try await keys.sign(Claims(exp: now - 120), kid: "rsa-1"), "expired")
            _ = try await authenticate(access, try await keys.sign(Claims(nbf: now + 30), kid: "rsa-1"))
            await expectRefused(access, try await keys.sign(Claims(nbf: now + 300), kid: "rsa-1"), "not valid yet")
        }
    }

    @Test func issuerAndAudienceAreChecked() async throws {
        try await withProvider { provider, access in
            let keys = await provider.signer()
            await expectRefused(access, try await keys.sign(Claims(iss: "http://evil.example/realms/hospital"), kid: "rsa-1"), "issuer")
            await expectRefused(access, try await keys.sign(Claims(aud: ["account"]), kid: "rsa-1"), "not meant for loupe")
            // Keycloak without an audience mapper: aud "account", azp the client.
            _ = try await authenticate(access, try await keys.sign(Claims(aud: ["account"], azp: "loupe"), kid: "rsa-1"))
        }
    }

    @Test func algorithmConfusionAndForgeriesAreRefused() async throws {
        try await withProvider { provider, access in
            let keys = await provider.signer()
            let claims = Data(try JSONEncoder().encode(Claims())).base64URL
            // alg none, no signature.
            await expectRefused(access, Self.token(header: #"{"alg":"none","kid":"rsa-1"}"#, claims: claims, signature: ""), "'none' is not accepted")
            // HS256 signed with the RSA public key as the HMAC secret (the classic confusion).
            let pem = try provider.rsa.publicKey.pemRepresentation
            let hs = Self.token(header: #"{"alg":"HS256","typ":"JWT","kid":"rsa-1"}"#, claims: claims, hmacKey: Data(pem.utf8))
            await expectRefused(access, hs, "'HS256' is not accepted")
            // A real RS256 signature under a header that lies about the algorithm.
            let real = try await keys.sign(Claims(), kid: "rsa-1").split(separator: ".")
            await expectRefused(access, Self.token(header: #"{"alg":"PS256","kid":"rsa-1"}"#, claims: String(real[1]), signature: String(real[2])),
                                "token algorithm PS256 is not that of key")
            // The EC key's kid on an RSA signature.
            await expectRefused(access, Self.token(header: #"{"alg":"RS256","kid":"ec-1"}"#, claims: String(real[1]), signature: String(real[2])),
                                "not that of key")
            // A payload changed after signing.
            let other = Data(try JSONEncoder().encode(Claims(realm_access: ["roles": ["admin"]]))).base64URL
            await expectRefused(access, "\(real[0]).\(other).\(real[2])", "signature is not valid")
            // No kid, garbage, three parts of nothing.
            await expectRefused(access, Self.token(header: #"{"alg":"RS256"}"#, claims: String(real[1]), signature: String(real[2])), "names no key")
            await expectRefused(access, "not-a-jwt", "neither a Loupe API token nor a JWT")
            await expectRefused(access, "..", "neither a Loupe API token nor a JWT")
        }
    }

    @Test func aRotatedKeyIsFetchedWhenATokenNamesIt() async throws {
        try await withProvider({ $0.refetchInterval = 0 }) { provider, access in
            let keys = await provider.signer()
            _ = try await authenticate(access, try await keys.sign(Claims(), kid: "rsa-1"))
            #expect(provider.fetches.withLock { $0 } == 1)
            // Not yet published: refused, after asking the provider again.
            await expectRefused(access, try await keys.sign(Claims(sub: "x"), kid: "rsa-2"), "unknown key 'rsa-2'")
            #expect(provider.fetches.withLock { $0 } == 2)
            // Rotation: the provider now publishes rsa-2 and has dropped rsa-1.
            provider.published.withLock { $0 = ["rsa-2", "ec-1"] }
            let identity = try await authenticate(access, try await keys.sign(Claims(preferred_username: "after.rotation"), kid: "rsa-2"))
            #expect(identity.name == "after.rotation")
            #expect(provider.fetches.withLock { $0 } == 3)
        }
    }

    @Test func unknownKeysAreNotFetchedMoreThanTheIntervalAllows() async throws {
        try await withProvider { provider, access in
            let keys = await provider.signer()
            _ = try await authenticate(access, try await keys.sign(Claims(), kid: "rsa-1"))
            for n in 0..<5 { await expectRefused(access, try await keys.sign(Claims(sub: "\(n)"), kid: "rsa-2"), "unknown key") }
            #expect(provider.fetches.withLock { $0 } == 1)  // a flood of unknown kids does not hammer the provider
        }
    }

    @Test func rolesComeFromTheConfiguredClaimThroughTheMapping() async throws {
        try await withProvider({ $0.rolesClaim = "groups"; $0.roleMapping = ["pacs-admins": "admin"] }) { provider, access in
            let keys = await provider.signer()
            let identity = try await authenticate(access, try await keys.sign(Claims(groups: ["pacs-admins", "staff"]), kid: "ec-1"))
            #expect(identity.roles == ["admin"] && identity.may(.admin))
            let none = try await authenticate(access, try await keys.sign(Claims(sub: "y"), kid: "ec-1"))
            #expect(none.roles.isEmpty && !none.may(.read))
        }
    }

    static func token(header: String, claims: String, signature: String) -> String {
        "\(Data(header.utf8).base64URL).\(claims).\(signature)"
    }

    static func token(header: String, claims: String, hmacKey: Data) -> String {
        let input = "\(Data(header.utf8).base64URL).\(claims)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: hmacKey))
        return "\(input).\(Data(mac).base64URL)"
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
