import Archive
import CDCMTK
import DICOM
import Foundation
import Logging

/// The DIMSE SCP: Verification, Storage and Query/Retrieve (FIND, MOVE, GET) bound to the archive.
///
/// DCMTK runs each association on a thread of its own and calls back here synchronously; the
/// callbacks use the archive's blocking API directly and never touch the Swift concurrency pool.
public final class DIMSEServer: Sendable {
    public let configuration: DIMSEConfiguration
    private let provider: ServiceProvider
    /// The shim's SCP; thread-safe on the C++ side.
    private nonisolated(unsafe) let handle: OpaquePointer
    private let context: Unmanaged<ServiceProvider>

    /// Starts listening. Throws when the port cannot be opened.
    public init(configuration: DIMSEConfiguration, archive: Archive, logger: Logger = Logger(label: "loupe.dimse")) throws {
        try DCMTK.initialize()
        self.configuration = configuration
        provider = ServiceProvider(configuration: configuration, archive: archive, logger: logger)
        context = Unmanaged.passRetained(provider)
        let handlers = loupe_scp_handlers(
            context: context.toOpaque(),
            associate: { context, association in
                ServiceProvider.from(context).associate(association!.pointee)
            },
            store: { context, association, request, outcome in
                ServiceProvider.from(context).store(association!.pointee, request!.pointee, outcome!)
            },
            find: { context, association, query, responder, outcome in
                ServiceProvider.from(context).find(association!.pointee, query!.pointee, responder, outcome!)
            },
            retrieve: { context, association, query, plan, outcome in
                ServiceProvider.from(context).retrieve(association!.pointee, query!.pointee, plan, outcome!)
            },
            ended: { context, association, reason in
                ServiceProvider.from(context).ended(association!.pointee, reason.map { String(cString: $0) } ?? "")
            })
        var error = [CChar](repeating: 0, count: 512)
        let staging = archive.stagingDirectory.path
        let started: OpaquePointer? = configuration.aeTitle.withCString { ae in
            staging.withCString { dir in
                var config = loupe_scp_config(
                    ae_title: ae, port: configuration.port, staging_dir: dir,
                    max_associations: Int32(configuration.maxAssociations),
                    acse_timeout_seconds: Int32(configuration.acseTimeoutSeconds),
                    dimse_timeout_seconds: Int32(configuration.dimseTimeoutSeconds),
                    max_pdu_length: configuration.maxPDULength)
                return loupe_scp_start(&config, handlers, &error, error.count)
            }
        }
        guard let started else {
            context.release()
            throw DIMSEConfigurationError(String(cBuffer: error))
        }
        handle = started
        logger.info("DIMSE listening", metadata: ["ae": "\(configuration.aeTitle)", "port": "\(port)"])
    }

    /// The port listened on (useful when configured as 0).
    public var port: UInt16 { loupe_scp_port(handle) }

    /// Associations open right now.
    public var activeAssociations: Int { Int(loupe_scp_active_associations(handle)) }

    /// Stops accepting, lets open associations finish their current operation, and waits for
    /// them up to `grace` seconds. Blocks; call it once.
    public func stop(grace: Int = 30) {
        loupe_scp_stop(handle, Int32(grace))
        context.release()
    }
}

/// The callbacks' receiver: turns C data into Swift values and back.
final class ServiceProvider: Sendable {
    let configuration: DIMSEConfiguration
    let archive: Archive
    let policy: AssociationPolicy
    let queries: QueryRetrieveService
    let logger: Logger

    init(configuration: DIMSEConfiguration, archive: Archive, logger: Logger) {
        self.configuration = configuration
        self.archive = archive
        self.policy = AssociationPolicy(configuration: configuration)
        self.queries = QueryRetrieveService(archive: archive, configuration: configuration)
        self.logger = logger
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> ServiceProvider {
        Unmanaged<ServiceProvider>.fromOpaque(context!).takeUnretainedValue()
    }

    private func metadata(_ a: loupe_association) -> Logger.Metadata {
        ["association": "\(a.id)", "calling": "\(String(cString: a.calling_ae))", "peer": "\(String(cString: a.peer_host))"]
    }

    func associate(_ a: loupe_association) -> loupe_association_decision {
        let decision = policy.decide(callingAE: String(cString: a.calling_ae), calledAE: String(cString: a.called_ae),
                                     peerHost: String(cString: a.peer_host))
        switch decision {
        case .accept:
            logger.debug("association requested", metadata: metadata(a))
            return LOUPE_ASSOCIATION_ACCEPT
        case .calledAETitleNotRecognized:
            logger.warning("association rejected: called AE title not recognized",
                           metadata: metadata(a).merging(["called": "\(String(cString: a.called_ae))"]) { $1 })
            return LOUPE_REJECT_CALLED_AE_NOT_RECOGNIZED
        case .callingAETitleNotRecognized:
            logger.warning("association rejected: calling AE title not allowed", metadata: metadata(a))
            return LOUPE_REJECT_CALLING_AE_NOT_RECOGNIZED
        case .callingHostNotAllowed:
            logger.warning("association rejected: calling host not allowed", metadata: metadata(a))
            return LOUPE_REJECT_NO_REASON
        }
    }

    func store(_ a: loupe_association, _ request: loupe_store_request, _ outcome: UnsafeMutablePointer<loupe_outcome>) {
        let staged = URL(fileURLWithPath: String(cString: request.file_path))
        let expected = ExpectedIdentity(sopClassUID: String(cString: request.sop_class_uid),
                                        sopInstanceUID: String(cString: request.sop_instance_uid))
        do {
            let result = try archive.ingest(staged: staged, source: IngestSource(origin: String(cString: a.calling_ae)),
                                            expected: expected)
            outcome.pointee.status = DIMSEStatus.success.rawValue
            logger.info("C-STORE \(result.outcome.rawValue)", metadata: metadata(a).merging([
                "sop": "\(result.sopInstanceUID)", "study": "\(result.studyInstanceUID)",
                "ts": "\(result.transferSyntaxUID)"]) { $1 })
        } catch {
            outcome.pointee.status = error.dimseStatus.rawValue
            loupe_outcome_set_comment(outcome, String(error.message.prefix(64)))
            logger.warning("C-STORE refused", metadata: metadata(a).merging([
                "status": "\(error.dimseStatus)", "reason": "\(error.message)"]) { $1 })
        }
    }

    func find(_ a: loupe_association, _ query: loupe_query, _ responder: OpaquePointer?, _ outcome: UnsafeMutablePointer<loupe_outcome>) {
        let start = DispatchTime.now()
        var count = 0
        do {
            let identifier = try Self.identifier(query)
            try queries.find(identifier: identifier, model: Self.model(query)) { match in
                guard let bytes = try? DICOMWriter.encode(match) else { return false }
                count += 1
                return bytes.withUnsafeBufferPointer { loupe_find_respond(responder, $0.baseAddress, $0.count) } == 1
            }
            outcome.pointee.status = DIMSEStatus.success.rawValue
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
            logger.info("C-FIND", metadata: metadata(a).merging([
                "level": "\(identifier.string(.queryRetrieveLevel) ?? "")", "matches": "\(count)",
                "ms": "\(String(format: "%.1f", ms))"]) { $1 })
        } catch {
            fail(outcome, error, "C-FIND", a)
        }
    }

    func retrieve(_ a: loupe_association, _ query: loupe_query, _ plan: OpaquePointer?, _ outcome: UnsafeMutablePointer<loupe_outcome>) {
        let destination = String(cString: query.move_destination)
        let operation = destination.isEmpty ? "C-GET" : "C-MOVE"
        do throws(DIMSEFailure) {
            let identifier = try Self.identifier(query)
            if !destination.isEmpty {
                guard let peer = configuration.peer(named: destination) else {
                    throw DIMSEFailure(.moveDestinationUnknown, "move destination \(destination) is not configured")
                }
                loupe_retrieve_set_destination(plan, peer.aeTitle, peer.host, peer.port)
            }
            let instances = try queries.retrieve(identifier: identifier, model: Self.model(query))
            for instance in instances {
                loupe_retrieve_add(plan, instance.fileURL.path, instance.sopClassUID, instance.sopInstanceUID,
                                   instance.transferSyntaxUID)
            }
            outcome.pointee.status = DIMSEStatus.success.rawValue
            logger.info("\(operation)", metadata: metadata(a).merging([
                "destination": "\(destination)", "instances": "\(instances.count)"]) { $1 })
        } catch {
            fail(outcome, error, operation, a)
        }
    }

    func ended(_ a: loupe_association, _ reason: String) {
        logger.debug("association ended", metadata: metadata(a).merging(["reason": "\(reason)"]) { $1 })
    }

    private func fail(_ outcome: UnsafeMutablePointer<loupe_outcome>, _ error: DIMSEFailure, _ operation: String, _ a: loupe_association) {
        outcome.pointee.status = error.status.rawValue
        loupe_outcome_set_comment(outcome, String(error.comment.prefix(64)))
        logger.warning("\(operation) failed", metadata: metadata(a).merging([
            "status": "\(error.status)", "reason": "\(error.comment)"]) { $1 })
    }

    static func identifier(_ query: loupe_query) throws(DIMSEFailure) -> DataSet {
        let bytes = Array(UnsafeBufferPointer(start: query.identifier, count: query.identifier_length))
        do {
            return try DICOMReader.readDataSet(bytes)
        } catch {
            throw DIMSEFailure(.cannotUnderstand, "identifier cannot be read: \(error)")
        }
    }

    static func model(_ query: loupe_query) -> QueryModel {
        query.model == LOUPE_MODEL_PATIENT_ROOT ? .patientRoot : .studyRoot
    }
}

/// Process-wide DCMTK setup.
public enum DCMTK {
    public static func initialize(logLevel: loupe_log_level = LOUPE_LOG_WARN) throws {
        var error = [CChar](repeating: 0, count: 256)
        guard loupe_dcmtk_initialize(logLevel, &error, error.count) == 0 else {
            throw DIMSEConfigurationError(String(cBuffer: error))
        }
    }
}

extension String {
    /// Text of a NUL-terminated C buffer filled by the shim.
    init(cBuffer: [CChar]) {
        self.init(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
