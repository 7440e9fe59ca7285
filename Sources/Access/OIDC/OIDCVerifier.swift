import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JWTKit

/// What a verified OIDC access token says about its holder.
public struct OIDCClaims: Sendable, Equatable {
    /// The user as the audit trail names it (`preferred_username`, else `sub`).
    public let subject: String
    /// Loupe role names.
    public let roles: [String]
    public let expires: Date
}

/// Verifies OIDC access tokens (JWTs) with jwt-kit against the issuer's JWKS, fetched and cached.
///
/// Before jwt-kit sees a token, its header must name an asymmetric algorithm (RS*, PS*, ES*; never
/// `none` or HMAC) and a `kid` of the key set, with that key's algorithm: jwt-kit neither compares
/// the header's `alg` with the key's nor refuses an unknown `kid` (it falls back to the first key).
/// An unknown `kid` fetches the key set again (key rotation), at most every `refetchInterval`.
package actor OIDCVerifier {
    let configuration: OIDCConfiguration
    private var keys: KeySet?
    private var lastFetch: Date?
    /// Tokens verified before (SHA-256 of the token → claims), until they expire.
    private var verified: [String: OIDCClaims] = [:]

    static let algorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

    package struct KeySet {
        let collection: JWTKeyCollection
        /// kid → algorithm
        let algorithms: [String: String]
        let fetched: Date
    }

    init(configuration: OIDCConfiguration) { self.configuration = configuration }

    /// A verifier that starts with `keys` instead of fetching them (the fuzz target's).
    package init(configuration: OIDCConfiguration, keys: KeySet) {
        self.configuration = configuration
        self.keys = keys
    }

    package func verify(_ token: String, now: Date) async throws(AccessError) -> OIDCClaims {
        let cacheKey = Secret.hash(token)
        if let claims = verified[cacheKey] {
            if claims.expires.addingTimeInterval(configuration.leeway) > now { return claims }
            verified[cacheKey] = nil
        }
        let header = try Self.header(of: token)
        guard let alg = header.alg, Self.algorithms.contains(alg) else {
            throw AccessError.unauthenticated("token algorithm '\(header.alg ?? "none")' is not accepted (only RS*, PS*, ES*)")
        }
        guard let kid = header.kid else { throw AccessError.unauthenticated("token header names no key (kid)") }
        var keySet = try await currentKeys(now: now)
        if keySet.algorithms[kid] == nil, let lastFetch, now.timeIntervalSince(lastFetch) >= configuration.refetchInterval {
            keySet = try await fetchKeys(now: now)  // perhaps a rotated key
        }
        guard let keyAlgorithm = keySet.algorithms[kid] else { throw AccessError.unauthenticated("token signed by an unknown key '\(kid)'") }
        guard keyAlgorithm == alg else {
            throw AccessError.unauthenticated("token algorithm \(alg) is not that of key '\(kid)' (\(keyAlgorithm))")
        }
        let payload: OIDCAccessToken
        do {
            payload = try await keySet.collection.verify(token, as: OIDCAccessToken.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw AccessError.unauthenticated("token signature is not valid")
        } catch {
            throw AccessError.unauthenticated("token is malformed or not verifiable")
        }
        let claims = try payload.claims(configuration: configuration, now: now)
        if verified.count > 10_000 { verified = verified.filter { $0.value.expires > now } }
        verified[cacheKey] = claims
        return claims
    }

    private func currentKeys(now: Date) async throws(AccessError) -> KeySet {
        if let keys, now.timeIntervalSince(keys.fetched) < configuration.keyLifetime { return keys }
        if keys == nil, let lastFetch, now.timeIntervalSince(lastFetch) < configuration.refetchInterval {
            // The provider failed a moment ago: not asked again for every request meanwhile.
            throw AccessError(.unavailable, "the OpenID Connect provider's keys cannot be fetched (retried every \(Int(configuration.refetchInterval)) s)")
        }
        return try await fetchKeys(now: now)
    }

    private func fetchKeys(now: Date) async throws(AccessError) -> KeySet {
        lastFetch = now
        do {
            let url = try await jwksURL()
            let keySet = try await Self.keySet(json: try await Self.get(url), fetched: now)
            keys = keySet
            return keySet
        } catch {
            if let keys { return keys }  // keep using the old keys while the provider is unreachable
            throw AccessError(.unavailable, "the OpenID Connect provider's keys cannot be fetched: \(error)")
        }
    }

    private func jwksURL() async throws -> URL {
        if let url = configuration.jwksURL { return url }
        let issuer = configuration.issuer.hasSuffix("/") ? String(configuration.issuer.dropLast()) : configuration.issuer
        guard let discovery = URL(string: issuer + "/.well-known/openid-configuration") else {
            throw AccessError(.unavailable, "OIDC issuer \(issuer) is not a URL")
        }
        let document = try JSONSerialization.jsonObject(with: try await Self.get(discovery)) as? [String: Any]
        guard document?["issuer"] as? String == configuration.issuer else {  // OpenID Connect Discovery 4.3
            throw AccessError(.unavailable, "the provider's discovery document names another issuer")
        }
        guard let text = document?["jwks_uri"] as? String, let url = URL(string: text), url.scheme == "https" || url.scheme == discovery.scheme else {
            throw AccessError(.unavailable, "the provider's discovery document has no usable jwks_uri")
        }
        return url
    }

    static func get(_ url: URL) async throws -> Data {
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw AccessError(.unavailable, "GET \(url) answered \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        return data
    }

    /// The signing keys of a JWKS document: keys for encryption, without a `kid`, or of other
    /// types and algorithms are left out (jwt-kit refuses a whole set for one it does not know);
    /// a missing `alg` is filled in from the key type and curve.
    package static func keySet(json: Data, fetched: Date) async throws -> KeySet {
        guard let document = try JSONSerialization.jsonObject(with: json) as? [String: Any],
              let entries = document["keys"] as? [[String: Any]] else {
            throw AccessError(.unavailable, "the provider's key set is not a JWKS document")
        }
        let collection = JWTKeyCollection()
        var algorithms: [String: String] = [:]
        for var entry in entries {
            guard let kid = entry["kid"] as? String, (entry["use"] as? String ?? "sig") == "sig",
                  let alg = (entry["alg"] as? String) ?? defaultAlgorithm(entry), Self.algorithms.contains(alg) else { continue }
            entry["alg"] = alg
            guard let jwk = try? JWK(json: String(decoding: try JSONSerialization.data(withJSONObject: entry), as: UTF8.self)),
                  (try? await collection.add(jwk: jwk)) != nil else { continue }
            algorithms[kid] = alg
        }
        return KeySet(collection: collection, algorithms: algorithms, fetched: fetched)
    }

    private static func defaultAlgorithm(_ entry: [String: Any]) -> String? {
        switch (entry["kty"] as? String, entry["crv"] as? String) {
        case ("RSA", _): "RS256"
        case ("EC", "P-256"): "ES256"
        case ("EC", "P-384"): "ES384"
        case ("EC", "P-521"): "ES512"
        default: nil
        }
    }

    struct Header {
        let alg: String?
        let kid: String?
    }

    static func header(of token: String) throws(AccessError) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Data(base64URL: String(parts[0])),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw AccessError.unauthenticated("bearer token is neither a Loupe API token nor a JWT")
        }
        return Header(alg: object["alg"] as? String, kid: object["kid"] as? String)
    }
}

extension Data {
    /// Decodes base64url without padding (JWT segments).
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
