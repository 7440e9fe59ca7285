/// A caller allowed to associate: its AE title and, optionally, the host it must come from.
public struct AllowedCaller: Sendable, Equatable {
    public var aeTitle: String
    public var host: String?
    public init(aeTitle: String, host: String? = nil) {
        self.aeTitle = aeTitle
        self.host = host
    }
}

/// How the DIMSE service runs.
public struct DIMSEConfiguration: Sendable {
    /// Loupe's own AE title.
    public var aeTitle: String
    public var port: UInt16
    public var maxAssociations: Int
    public var acseTimeoutSeconds: Int
    /// Per-message timeout; also how long an idle association is kept.
    public var dimseTimeoutSeconds: Int
    public var maxPDULength: UInt32
    /// Reject associations whose called AE title is not `aeTitle`.
    public var requireCalledAETitle: Bool
    /// When non-empty, only these callers may associate.
    public var allowedCallers: [AllowedCaller]
    /// Move destinations and other nodes, by name.
    public var peers: [DICOMPeer]
    /// C-FIND matches PN keys ignoring case and accents (most users expect `doe*` to find `DOE^JOHN`).
    public var caseInsensitivePersonNames: Bool

    public init(aeTitle: String = "LOUPE", port: UInt16 = 11112, maxAssociations: Int = 16,
                acseTimeoutSeconds: Int = 30, dimseTimeoutSeconds: Int = 60, maxPDULength: UInt32 = 116_794,
                requireCalledAETitle: Bool = true, allowedCallers: [AllowedCaller] = [], peers: [DICOMPeer] = [],
                caseInsensitivePersonNames: Bool = true) {
        self.aeTitle = aeTitle
        self.port = port
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
