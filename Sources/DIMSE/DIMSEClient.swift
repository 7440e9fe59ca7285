import CDCMTK
import DICOM
import Foundation

/// The SCU side: C-ECHO, C-STORE, C-FIND and C-MOVE towards a peer. Calls block.
public struct DIMSEClient: Sendable {
    /// Loupe's AE title as calling AE.
    public var callingAETitle: String
    public var timeoutSeconds: Int

    public init(callingAETitle: String, timeoutSeconds: Int = 30) {
        self.callingAETitle = callingAETitle
        self.timeoutSeconds = timeoutSeconds
    }

    /// A network, negotiation or protocol failure (not a DIMSE status: those are returned).
    public struct NetworkError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The final status of an operation and its error comment.
    public struct Outcome: Sendable, Equatable {
        public let status: DIMSEStatus
        public let comment: String
    }

    public struct RetrieveCounts: Sendable, Equatable {
        public let completed: Int
        public let failed: Int
        public let warning: Int

        public init(completed: Int, failed: Int, warning: Int) {
            self.completed = completed
            self.failed = failed
            self.warning = warning
        }
    }

    /// One file to send and, after `store`, the peer's answer.
    public struct StoreItem: Sendable {
        public let fileURL: URL
        public let sopClassUID: String
        public let sopInstanceUID: String
        public let transferSyntaxUID: String
        /// The peer's C-STORE response status; nil when no response came.
        public var status: DIMSEStatus?

        public init(fileURL: URL, sopClassUID: String, sopInstanceUID: String, transferSyntaxUID: String) {
            self.fileURL = fileURL
            self.sopClassUID = sopClassUID
            self.sopInstanceUID = sopInstanceUID
            self.transferSyntaxUID = transferSyntaxUID
        }

        /// Reads the identity of a Part-10 file (its header only).
        public init(file: URL) throws {
            let parsed = try DICOMReader.read(contentsOf: file, options: ReadOptions(stopAt: .pixelData))
            guard parsed.isPart10, let sopClass = parsed.sopClassUID, let sopInstance = parsed.sopInstanceUID else {
                throw DICOMError.notDICOM("\(file.path) is not a Part-10 file with SOP Class and Instance UIDs")
            }
            self.init(fileURL: file, sopClassUID: sopClass, sopInstanceUID: sopInstance,
                      transferSyntaxUID: parsed.transferSyntax.uid)
        }
    }

    /// Sets the certificate, key and trusted CAs of outgoing TLS associations (peers marked `tls`).
    public static func configureTLS(_ tls: DIMSETLSConfiguration) throws {
        try DCMTK.initialize()
        var error = [CChar](repeating: 0, count: 512)
        let rc = withTLSConfig(tls) { config in loupe_tls_configure_requestor(config, &error, error.count) }
        guard rc == 0 else { throw DIMSEConfigurationError(String(cBuffer: error)) }
    }

    /// The shim's view of a TLS configuration, for the duration of `body` (nil stays nil).
    static func withTLSConfig<T>(_ tls: DIMSETLSConfiguration?, _ body: (UnsafePointer<loupe_tls_config>?) -> T) -> T {
        guard let tls else { return body(nil) }
        return tls.certificateFile.withCString { certificate in
            tls.privateKeyFile.withCString { key in
                (tls.caFile ?? "").withCString { ca in
                    var config = loupe_tls_config(certificate_file: certificate, private_key_file: key, ca_file: ca,
                                                  require_peer_certificate: tls.requireClientCertificate ? 1 : 0)
                    return body(&config)
                }
            }
        }
    }

    private func withPeer<T>(_ peer: DICOMPeer, _ body: (inout loupe_peer) throws -> T) rethrows -> T {
        try callingAETitle.withCString { calling in
            try peer.aeTitle.withCString { called in
                try peer.host.withCString { host in
                    var p = loupe_peer(calling_ae: calling, called_ae: called, host: host, port: peer.port,
                                       timeout_seconds: Int32(timeoutSeconds), tls: peer.tls ? 1 : 0)
                    return try body(&p)
                }
            }
        }
    }

    private static func outcome(_ o: loupe_outcome) -> Outcome {
        var copy = o
        let comment = withUnsafeBytes(of: &copy.comment) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return Outcome(status: DIMSEStatus(rawValue: o.status), comment: comment)
    }

    public func echo(_ peer: DICOMPeer) throws(NetworkError) -> Outcome {
        try DCMTK.initializeOrThrow()
        var outcome = loupe_outcome()
        var error = [CChar](repeating: 0, count: 512)
        let rc = withPeer(peer) { p in loupe_scu_echo(&p, &outcome, &error, error.count) }
        guard rc == 0 else { throw NetworkError(description: String(cBuffer: error)) }
        return Self.outcome(outcome)
    }

    /// Sends files; each item's `status` is filled with the peer's response.
    public func store(_ items: [StoreItem], to peer: DICOMPeer) throws(NetworkError) -> [StoreItem] {
        try DCMTK.initializeOrThrow()
        guard !items.isEmpty else { return [] }
        let paths = items.map { strdup($0.fileURL.path)! }
        let classes = items.map { strdup($0.sopClassUID)! }
        let instances = items.map { strdup($0.sopInstanceUID)! }
        let syntaxes = items.map { strdup($0.transferSyntaxUID)! }
        defer { (paths + classes + instances + syntaxes).forEach { free($0) } }
        var cItems = items.indices.map { i in
            loupe_store_item(file_path: paths[i], sop_class_uid: classes[i], sop_instance_uid: instances[i],
                             transfer_syntax_uid: syntaxes[i], status: 0, sent: 0)
        }
        var error = [CChar](repeating: 0, count: 512)
        let rc = withPeer(peer) { p in loupe_scu_store(&p, &cItems, cItems.count, &error, error.count) }
        guard rc == 0 else { throw NetworkError(description: String(cBuffer: error)) }
        var result = items
        for i in result.indices where cItems[i].sent == 1 {
            result[i].status = DIMSEStatus(rawValue: cItems[i].status)
        }
        return result
    }

    /// C-FIND; returns the matches and the final outcome.
    public func find(_ identifier: DataSet, model: QueryModel, on peer: DICOMPeer) throws(NetworkError) -> (matches: [DataSet], outcome: Outcome) {
        try DCMTK.initializeOrThrow()
        let bytes: [UInt8]
        do { bytes = try DICOMWriter.encode(identifier) } catch { throw NetworkError(description: "\(error)") }
        final class Collector { var matches: [DataSet] = [] }
        let collector = Collector()
        var outcome = loupe_outcome()
        var error = [CChar](repeating: 0, count: 512)
        let rc = withPeer(peer) { p in
            bytes.withUnsafeBufferPointer { buffer in
                loupe_scu_find(&p, model.cModel, buffer.baseAddress, buffer.count, { context, data, length in
                    let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                    let bytes = Array(UnsafeBufferPointer(start: data, count: length))
                    if let ds = try? DICOMReader.readDataSet(bytes) { collector.matches.append(ds) }
                }, Unmanaged.passUnretained(collector).toOpaque(), &outcome, &error, error.count)
            }
        }
        guard rc == 0 else { throw NetworkError(description: String(cBuffer: error)) }
        return (collector.matches, Self.outcome(outcome))
    }

    /// C-MOVE to the AE title `destination` (which the peer must know).
    public func move(_ identifier: DataSet, model: QueryModel, on peer: DICOMPeer, to destination: String) throws(NetworkError) -> (counts: RetrieveCounts, outcome: Outcome) {
        try DCMTK.initializeOrThrow()
        let bytes: [UInt8]
        do { bytes = try DICOMWriter.encode(identifier) } catch { throw NetworkError(description: "\(error)") }
        var counts = loupe_retrieve_counts()
        var outcome = loupe_outcome()
        var error = [CChar](repeating: 0, count: 512)
        let rc = withPeer(peer) { p in
            bytes.withUnsafeBufferPointer { buffer in
                loupe_scu_move(&p, model.cModel, buffer.baseAddress, buffer.count, destination, &counts, &outcome,
                               &error, error.count)
            }
        }
        guard rc == 0 else { throw NetworkError(description: String(cBuffer: error)) }
        return (RetrieveCounts(completed: Int(counts.completed), failed: Int(counts.failed), warning: Int(counts.warning)),
                Self.outcome(outcome))
    }
}

extension QueryModel {
    var cModel: loupe_query_model { self == .patientRoot ? LOUPE_MODEL_PATIENT_ROOT : LOUPE_MODEL_STUDY_ROOT }
}

extension DCMTK {
    static func initializeOrThrow() throws(DIMSEClient.NetworkError) {
        do { try initialize() } catch { throw DIMSEClient.NetworkError(description: "\(error)") }
    }
}
