import Foundation

/// Unique identifiers (PS3.5 9).
public enum UID {
    /// A valid UID: 1–64 characters, components of digits separated by dots, no leading zeros.
    public static func isValid(_ uid: String) -> Bool {
        guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
        for component in uid.split(separator: ".", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            if component.count > 1 && component.first == "0" { return false }
        }
        return true
    }

    /// A new UID under the 2.25 root, derived from a random UUID (PS3.5 B.2).
    public static func generate() -> String {
        let u = UUID().uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        return "2.25." + decimalString(bytes)
    }

    /// The decimal form of a big-endian unsigned integer.
    static func decimalString(_ bytes: [UInt8]) -> String {
        var number = bytes.map(UInt32.init)
        var digits: [Character] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder: UInt32 = 0
            for i in number.indices {
                let value = remainder << 8 | number[i]
                number[i] = value / 10
                remainder = value % 10
            }
            digits.append(Character(String(remainder)))
        }
        return digits.isEmpty ? "0" : String(digits.reversed())
    }
}
