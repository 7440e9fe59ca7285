import Access
import Dispatch
import Foundation
import JWTKit

/// A bearer token through the OIDC verifier, with a key set as a provider publishes it: the header
/// checks Loupe makes first, then jwt-kit's parse and signature check, then the claims. Anything but
/// a valid token signed by the key must be refused as unauthenticated.
enum JWTTarget {
    static let issuer = "https://idp.example/realms/hospital"
    /// The moment every token is checked at, so that a corpus replays the same way on any day.
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    /// A P-256 key made for this target only; it signs the seed tokens.
    static let privateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4FyEx8ftGNXbjD7b
        nGllw3qw/P9zy96x/+kOYyqMsiShRANCAATDYOBTYhl69NM+luizteBwDVTrGKSB
        O7bTD9ROjiVgTKqJnS3ssMHsX4Sdke9NeyVfGOJOSFhXrZM99B49oz25
        -----END PRIVATE KEY-----
        """
    static let jwks = """
        {"keys":[{"kid":"fuzz-ec","kty":"EC","crv":"P-256","use":"sig",
        "x":"w2DgU2IZevTTPpbos7XgcA1U6xikgTu20w_UTo4lYEw","y":"qomdLeywwexfhJ2R7017JV8Y4k5IWFetkz30Hj2jPbk"}]}
        """

    private static let verifier: OIDCVerifier = waiting {
        let keys = try! await OIDCVerifier.keySet(json: Data(jwks.utf8), fetched: now)
        return OIDCVerifier(configuration: OIDCConfiguration(issuer: issuer, audience: "loupe"), keys: keys)
    }

    static func run(_ bytes: [UInt8]) -> FuzzOutcome {
        let token = String(decoding: bytes, as: UTF8.self)
        return waiting {
            do throws(AccessError) {
                _ = try await verifier.verify(token, now: now)
                return .accepted
            } catch {
                precondition(error.kind == .unauthenticated, "a token refused as \(error.kind): \(error)")
                return FuzzOutcome(error)
            }
        }
    }

    struct Payload: JWTPayload {
        var iss = JWTTarget.issuer
        var aud = ["loupe"]
        var exp = JWTTarget.now.addingTimeInterval(300).timeIntervalSince1970
        var sub = "fuzz-user"
        var preferred_username = "dr.fuzz"
        var realm_access = ["roles": ["radiologist"]]
        func verify(using _: some JWTAlgorithm) async throws {}
    }

    /// A valid token, and the same token with its header's algorithm swapped for `none` and HS256.
    static func seeds() -> [[UInt8]] {
        let token: String = waiting {
            let keys = JWTKeyCollection()
            await keys.add(ecdsa: try! ES256PrivateKey(pem: privateKeyPEM), kid: "fuzz-ec")
            return try! await keys.sign(Payload(), kid: "fuzz-ec")
        }
        let parts = token.split(separator: ".").map(String.init)
        func header(_ alg: String) -> String {
            Data(#"{"alg":"\#(alg)","kid":"fuzz-ec","typ":"JWT"}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        return [token, [header("none"), parts[1], ""].joined(separator: "."),
                [header("HS256"), parts[1], parts[2]].joined(separator: ".")].map { Array($0.utf8) }
    }

    /// Runs async work to its end from the fuzzer's synchronous callback.
    private static func waiting<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>(), done = DispatchSemaphore(value: 0)
        Task {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

/// Carries a result out of a task to a thread that waits for it on a semaphore.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
