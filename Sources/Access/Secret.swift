import Crypto
import Foundation

/// Random secrets (API tokens, session cookies, CSRF tokens) and the hashes they are stored as.
/// They carry 256 bits of entropy, so one SHA-256 (not a slow password hash) protects them at rest.
public enum Secret {
    /// Prefix of API tokens, so that secret scanners and people recognise one.
    public static let tokenPrefix = "loupe_"

    /// 32 random bytes, base64url without padding (43 characters).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A new API token secret.
    public static func token() -> String { tokenPrefix + generate() }

    /// A readable random password for the first admin (24 characters of a 56-letter alphabet: 139 bits).
    public static func password() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// Hex SHA-256 of a secret: what the index keeps. (On every request: no String(format:), which
    /// costs microseconds a byte.)
    public static func hash(_ secret: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(secret.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// Compares two strings in time independent of where they differ (CSRF tokens).
    public static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
