/// The DICOM peers the node is configured with, and a way to C-ECHO one, for the admin screen.
/// DICOMweb knows no DIMSE: the node hands both in.
public struct PeerDirectory: Sendable {
    public struct Peer: Sendable, Equatable, Encodable {
        public let name: String
        public let aeTitle: String
        public let host: String
        public let port: Int
        public let tls: Bool

        public init(name: String, aeTitle: String, host: String, port: Int, tls: Bool) {
            self.name = name
            self.aeTitle = aeTitle
            self.host = host
            self.port = port
            self.tls = tls
        }
    }

    /// What a C-ECHO came to: the peer's status (as DCMTK names it), or why there was none.
    public struct EchoResult: Sendable, Equatable, Encodable {
        public let peer: String
        public let success: Bool
        public let status: String
        public let milliseconds: Double

        public init(peer: String, success: Bool, status: String, milliseconds: Double) {
            self.peer = peer
            self.success = success
            self.status = status
            self.milliseconds = milliseconds
        }
    }

    public let peers: [Peer]
    /// Blocks for the length of an association: run it off the event loop.
    public let echo: @Sendable (Peer) -> EchoResult

    public init(peers: [Peer], echo: @escaping @Sendable (Peer) -> EchoResult) {
        self.peers = peers
        self.echo = echo
    }

    public static let none = PeerDirectory(peers: []) { EchoResult(peer: $0.name, success: false, status: "no DIMSE", milliseconds: 0) }
}
