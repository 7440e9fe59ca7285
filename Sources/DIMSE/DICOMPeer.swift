import Foundation

/// A remote DICOM node Loupe can call: a C-MOVE destination or a store/query target.
public struct DICOMPeer: Sendable, Equatable, CustomStringConvertible {
    /// The name users give it (the move destination AE title findscu/movescu users name).
    public var name: String
    /// The AE title Loupe calls it by.
    public var aeTitle: String
    public var host: String
    public var port: UInt16
    /// Reached over DICOM TLS (its certificate must be valid and name `host`).
    public var tls: Bool

    public init(name: String, aeTitle: String, host: String, port: UInt16, tls: Bool = false) {
        self.name = name
        self.aeTitle = aeTitle
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// The suffix of a peer reached over TLS: `NAME=AE@HOST:PORT+tls`.
    static let tlsSuffix = "+tls"

    /// Parses `NAME=AE@HOST:PORT`, or `AE@HOST:PORT` (the name is then the AE title); `+tls` at the
    /// end for a peer reached over DICOM TLS.
    public init(parsing text: String) throws(DIMSEConfigurationError) {
        let tls = text.hasSuffix(Self.tlsSuffix)
        var rest = Substring(tls ? String(text.dropLast(Self.tlsSuffix.count)) : text)
        var name: String?
        if let eq = rest.firstIndex(of: "=") {
            name = String(rest[..<eq])
            rest = rest[rest.index(after: eq)...]
        }
        guard let at = rest.firstIndex(of: "@"), let colon = rest.lastIndex(of: ":"), at < colon,
              let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else {
            throw DIMSEConfigurationError("peer '\(text)' is not NAME=AE@HOST:PORT")
        }
        let ae = String(rest[..<at])
        let host = String(rest[rest.index(after: at)..<colon])
        guard AETitle.isValid(ae), !host.isEmpty else {
            throw DIMSEConfigurationError("peer '\(text)': AE title must be 1–16 characters without backslash, host must not be empty")
        }
        self.init(name: name ?? ae, aeTitle: ae, host: host, port: port, tls: tls)
    }

    public var description: String { "\(name)=\(aeTitle)@\(host):\(port)" + (tls ? Self.tlsSuffix : "") }
}

/// A configuration value that cannot work.
public struct DIMSEConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Application Entity titles (PS3.5 AE: up to 16 characters, no backslash or control characters).
public enum AETitle {
    public static func isValid(_ title: String) -> Bool {
        let trimmed = title.trimmingCharacters(in: .init(charactersIn: " "))
        return !trimmed.isEmpty && title.utf8.count <= 16
            && title.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0 != "\\" }
    }
}
