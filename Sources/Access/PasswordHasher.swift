import CArgon2
import Foundation

/// Argon2id password hashes (Debian's libargon2), in the PHC string format
/// `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, which records its own parameters: hashes made with
/// other costs still verify.
public struct PasswordHasher: Sendable {
    /// Memory in KiB, passes, lanes: OWASP's recommended minimum for Argon2id (19 MiB, 2 passes).
    public var memoryKiB: UInt32 = 19_456
    public var iterations: UInt32 = 2
    public var parallelism: UInt32 = 1

    public init() {}

    static let saltLength = 16
    static let hashLength = 32

    public func hash(_ password: String) throws(AccessError) -> String {
        var salt = [UInt8](repeating: 0, count: Self.saltLength)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = generator.next() }
        let length = argon2_encodedlen(iterations, memoryKiB, parallelism, UInt32(Self.saltLength), UInt32(Self.hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let bytes = Array(password.utf8)
        let status = argon2id_hash_encoded(iterations, memoryKiB, parallelism, bytes, bytes.count, salt, salt.count,
                                           Self.hashLength, &encoded, encoded.count)
        guard status == ARGON2_OK.rawValue else {
            throw AccessError(.storage, "password hashing failed: \(String(cString: argon2_error_message(status)))")
        }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `password` matches `encoded` (false for a malformed hash too).
    public func verify(_ password: String, against encoded: String) -> Bool {
        let bytes = Array(password.utf8)
        return argon2id_verify(encoded, bytes, bytes.count) == ARGON2_OK.rawValue
    }
}
