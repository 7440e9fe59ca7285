import Access

/// A caller allowed to associate: its AE title, optionally the host it must come from, and the
/// services it may use.
public struct AllowedCaller: Sendable, Equatable {
    public var aeTitle: String
    public var host: String?
    public var services: Set<DIMSEService>
    /// Only over DICOM TLS (so, with `match_ae_title_to_certificate`, only the holder of a certificate
    /// naming this AE title): the same title on the plain port is refused.
    public var tlsOnly: Bool
    public init(aeTitle: String, host: String? = nil, services: Set<DIMSEService> = Set(DIMSEService.allCases), tlsOnly: Bool = false) {
        self.aeTitle = aeTitle
        self.host = host
        self.services = services
        self.tlsOnly = tlsOnly
    }

    /// Whether this entry is about `caller` (AE title, host, and TLS when it asks for it).
    func matches(_ caller: Caller) -> Bool {
        aeTitle == caller.aeTitle && (host == nil || host == caller.host) && (!tlsOnly || caller.certificateCommonName != nil)
    }
}

/// DICOM TLS (PS3.15 B.1, BCP 195: TLS 1.2 or newer) on a port of its own, and for peers marked `tls`.
public struct DIMSETLSConfiguration: Sendable, Equatable {
    /// The TLS port (2762 by convention).
    public var port: UInt16
    /// PEM certificate (a chain may follow) and its unencrypted private key; the same pair
    /// authenticates Loupe to TLS peers.
    public var certificateFile: String
    public var privateKeyFile: String
    /// PEM certificates trusted to sign peers' certificates (callers' and called peers').
    public var caFile: String?
    /// Mutual TLS: a caller without a valid certificate is refused in the handshake.
    public var requireClientCertificate: Bool
    /// A caller's AE title must be its certificate's common name.
    public var matchAETitleToCertificate: Bool
    /// Serve the plain port too.
    public var plainPort: Bool

    public init(port: UInt16 = 2762, certificateFile: String, privateKeyFile: String, caFile: String? = nil,
                requireClientCertificate: Bool = false, matchAETitleToCertificate: Bool = false, plainPort: Bool = true) {
        self.port = port
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.caFile = caFile
        self.requireClientCertificate = requireClientCertificate
        self.matchAETitleToCertificate = matchAETitleToCertificate
        self.plainPort = plainPort
    }
}

/// How the DIMSE service runs.
public struct DIMSEConfiguration: Sendable {
    /// Loupe's own AE title.
    public var aeTitle: String
    /// The address listened on (every address: `0.0.0.0`).
    public var host: String
    public var port: UInt16
    /// DICOM TLS; nil: none.
    public var tls: DIMSETLSConfiguration?
    public var maxAssociations: Int
    public var acseTimeoutSeconds: Int
    /// Per-message timeout; also how long an idle association is kept.
    public var dimseTimeoutSeconds: Int
    public var maxPDULength: UInt32
    /// Reject associations whose called AE title is not `aeTitle`.
    public var requireCalledAETitle: Bool
    /// When non-empty, only these callers may associate, each for its services.
    public var allowedCallers: [AllowedCaller]
    /// Move destinations and other nodes, by name.
    public var peers: [DICOMPeer]
    /// C-FIND matches PN keys ignoring case and accents (most users expect `doe*` to find `DOE^JOHN`).
    public var caseInsensitivePersonNames: Bool

    public init(aeTitle: String = "LOUPE", host: String = "127.0.0.1", port: UInt16 = 11112, tls: DIMSETLSConfiguration? = nil,
                maxAssociations: Int = 16, acseTimeoutSeconds: Int = 30, dimseTimeoutSeconds: Int = 60, maxPDULength: UInt32 = 116_794,
                requireCalledAETitle: Bool = true, allowedCallers: [AllowedCaller] = [], peers: [DICOMPeer] = [],
                caseInsensitivePersonNames: Bool = true) {
        self.aeTitle = aeTitle
        self.host = host
        self.port = port
        self.tls = tls
        self.maxAssociations = maxAssociations
        self.acseTimeoutSeconds = acseTimeoutSeconds
        self.dimseTimeoutSeconds = dimseTimeoutSeconds
        self.maxPDULength = maxPDULength
        self.requireCalledAETitle = requireCalledAETitle
        self.allowedCallers = allowedCallers
        self.peers = peers
        self.caseInsensitivePersonNames = caseInsensitivePersonNames
    }

    public func peer(named name: String) -> DICOMPeer? {
        peers.first { $0.name == name } ?? peers.first { $0.aeTitle == name }
    }
}
