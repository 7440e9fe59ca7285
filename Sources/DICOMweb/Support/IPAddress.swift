#if canImport(Glibc)
import Glibc
#endif

/// Textual IP addresses.
enum IPAddress {
    /// Whether `text` is an IPv4 or IPv6 address (not a name).
    static func isLiteral(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
