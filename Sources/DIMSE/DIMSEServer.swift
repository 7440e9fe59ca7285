import Access
import Archive
import CDCMTK
import DICOM
import Foundation
import Logging
import Synchronization

/// The DIMSE SCP: Verification, Storage and Query/Retrieve (FIND, MOVE, GET) bound to the archive,
/// on a plain port, a DICOM TLS port, or both.
///
/// DCMTK runs each association on a thread of its own and calls back here synchronously; the
/// callbacks use the archive's blocking API directly and never touch the Swift concurrency pool.
public final class DIMSEServer: Sendable {
    public let configuration: DIMSEConfiguration
    private let provider: ServiceProvider
    /// The shim's SCPs (plain, TLS); thread-safe on the C++ side.
    private nonisolated(unsafe) let plain: OpaquePointer?
    private nonisolated(unsafe) let secure: OpaquePointer?
    private let context: Unmanaged<ServiceProvider>

    /// Starts listening. Throws when a port cannot be opened or the TLS files are unusable.
    public init(configuration: DIMSEConfiguration, archive: Archive, audit: AuditLog? = nil,
                logger: Logger = Logger(label: "loupe.dimse")) throws {
        try DCMTK.initialize()
        self.configuration = configuration
        provider = ServiceProvider(configuration: configuration, archive: archive, audit: audit, logger: logger)
        context = Unmanaged.passRetained(provider)
        let handlers = loupe_scp_handlers(
            context: context.toOpaque(),
            associate: { context, association in
                ServiceProvider.from(context).associate(association!.pointee)
            },
            echo: { context, association in
                ServiceProvider.from(context).echo(association!.pointee)
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
            retrieved: { _, _, move, status, seconds in
                DIMSEMetrics.answered(move != 0 ? "C-MOVE" : "C-GET", status: status, seconds: seconds)
            },
            ended: { context, association, reason in
                ServiceProvider.from(context).ended(association!.pointee, reason.map { String(cString: $0) } ?? "")
            })
        do {
            if let tls = configuration.tls { try DIMSEClient.configureTLS(tls) }
            plain = configuration.tls?.plainPort == false
                ? nil : try Self.start(configuration, port: configuration.port, tls: nil, handlers: handlers, staging: archive.stagingDirectory)
            do {
                secure = try configuration.tls.map { tls in
                    try Self.start(configuration, port: tls.port, tls: tls, handlers: handlers, staging: archive.stagingDirectory)
                }
            } catch {
                if let plain { loupe_scp_stop(plain, 0) }
                throw error
            }
        } catch {
            context.release()
            throw error
        }
        logger.info("DIMSE listening", metadata: ["ae": "\(configuration.aeTitle)", "address": "\(configuration.host)",
                                                  "port": "\(plain.map { "\(loupe_scp_port($0))" } ?? "none")",
                                                  "tls_port": "\(secure.map { "\(loupe_scp_port($0))" } ?? "none")"])
    }

    /// One listening port of the shim.
    private static func start(_ configuration: DIMSEConfiguration, port: UInt16, tls: DIMSETLSConfiguration?,
                              handlers: loupe_scp_handlers, staging: URL) throws -> OpaquePointer {
        var error = [CChar](repeating: 0, count: 512)
        let started: OpaquePointer? = configuration.aeTitle.withCString { ae in
            configuration.host.withCString { host in
                staging.path.withCString { dir in
                    DIMSEClient.withTLSConfig(tls) { tlsConfig in
                        var config = loupe_scp_config(
                            ae_title: ae, bind_address: host, port: port, tls: tlsConfig, staging_dir: dir,
                            max_associations: Int32(configuration.maxAssociations),
                            acse_timeout_seconds: Int32(configuration.acseTimeoutSeconds),
                            dimse_timeout_seconds: Int32(configuration.dimseTimeoutSeconds),
                            max_pdu_length: configuration.maxPDULength)
                        return loupe_scp_start(&config, handlers, &error, error.count)
                    }
                }
            }
        }
        guard let started else { throw DIMSEConfigurationError(String(cBuffer: error)) }
        return started
    }

    /// The plain port listened on (useful when configured as 0); 0 when only TLS is served.
    public var port: UInt16 { plain.map(loupe_scp_port) ?? 0 }

    /// The TLS port listened on; nil without TLS.
    public var tlsPort: UInt16? { secure.map(loupe_scp_port) }

    /// Associations open right now.
    public var activeAssociations: Int { [plain, secure].compactMap { $0 }.reduce(0) { $0 + Int(loupe_scp_active_associations($1)) } }

    private let stopped = Mutex(false)

    /// Stops accepting, lets open associations finish their current operation, and waits for
    /// them up to `grace` seconds. Blocks; later calls do nothing.
    public func stop(grace: Int = 30) {
        guard !stopped.withLock({ (done: inout Bool) -> Bool in defer { done = true }; return done }) else { return }
        // Both ports wind down at once, so the grace period is not spent twice.
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let secure = self.secure
        if secure != nil {
            Thread.detachNewThread {
                loupe_scp_stop(secure!, Int32(grace))
                done.signal()
            }
        }
        if let plain { loupe_scp_stop(plain, Int32(grace)) }
        if secure != nil { done.wait() }
        context.release()
    }
}

/// The callbacks' receiver: turns C data into Swift values and back, checks each service against
/// the callers' rules, and writes the audit trail.
final class ServiceProvider: Sendable {
    let configuration: DIMSEConfiguration
    let archive: Archive
    let policy: AssociationPolicy
    let queries: QueryRetrieveService
    let audit: AuditLog?
    let logger: Logger

    init(configuration: DIMSEConfiguration, archive: Archive, audit: AuditLog?, logger: Logger) {
        self.configuration = configuration
        self.archive = archive
        self.policy = AssociationPolicy(configuration: configuration)
        self.queries = QueryRetrieveService(archive: archive, configuration: configuration)
        self.audit = audit
        self.logger = logger
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> ServiceProvider {
        Unmanaged<ServiceProvider>.fromOpaque(context!).takeUnretainedValue()
    }

    private func metadata(_ a: loupe_association) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["association": "\(a.id)", "calling": "\(String(cString: a.calling_ae))",
                                         "peer": "\(String(cString: a.peer_host))"]
        if a.tls != 0 { metadata["tls_subject"] = "\(String(cString: a.peer_subject))" }
        return metadata
    }

    private func caller(_ a: loupe_association) -> Caller {
        Caller(aeTitle: String(cString: a.calling_ae), host: String(cString: a.peer_host),
               certificateCommonName: a.tls != 0 ? String(cString: a.peer_common_name) : nil)
    }

    /// An audit entry with the association's caller as the actor.
    private func entry(_ a: loupe_association, _ action: AuditRecord.Action, outcome: AuditRecord.Outcome = .success,
                       detail: String? = nil) -> AuditRecord {
        AuditRecord(actor: String(cString: a.calling_ae), actorKind: .ae, address: String(cString: a.peer_host), action: action,
                    outcome: outcome, detail: detail)
    }

    func associate(_ a: loupe_association) -> loupe_association_decision {
        let decision = policy.decide(caller: caller(a), calledAE: String(cString: a.called_ae))
        let reason: String
        switch decision {
        case .accept:
            logger.debug("association requested", metadata: metadata(a))
            DIMSEMetrics.accepted(Self.metricsKey(a))
            return LOUPE_ASSOCIATION_ACCEPT
        case .calledAETitleNotRecognized: reason = "called AE title \(String(cString: a.called_ae)) not recognized"
        case .callingAETitleNotRecognized: reason = "calling AE title not allowed"
        case .callingHostNotAllowed: reason = "calling host not allowed"
        case .certificateDoesNotNameCaller: reason = "the calling AE title is not the certificate's common name (\(String(cString: a.peer_common_name)))"
        }
        logger.warning("association rejected: \(reason)", metadata: metadata(a))
        audit?.record(entry(a, .accessDenied, outcome: .failure, detail: "association rejected: \(reason)"))
        switch decision {
        case .calledAETitleNotRecognized: return LOUPE_REJECT_CALLED_AE_NOT_RECOGNIZED
        case .callingHostNotAllowed: return LOUPE_REJECT_NO_REASON
        default: return LOUPE_REJECT_CALLING_AE_NOT_RECOGNIZED
        }
    }

    /// Whether the caller may use the service; a refusal is logged and audited.
    private func permits(_ service: DIMSEService, _ a: loupe_association) -> Bool {
        if policy.permits(service, to: caller(a)) { return true }
        logger.warning("\(service.rawValue) refused: not allowed for this caller", metadata: metadata(a))
        audit?.record(entry(a, .accessDenied, outcome: .failure, detail: "\(service.rawValue) not allowed for this caller"))
        return false
    }

    func echo(_ a: loupe_association) -> UInt16 {
        let status = permits(.echo, a) ? DIMSEStatus.success.rawValue : DIMSEStatus.notAuthorized.rawValue
        DIMSEMetrics.answered("C-ECHO", status: status, seconds: 0)
        return status
    }

    func store(_ a: loupe_association, _ request: loupe_store_request, _ outcome: UnsafeMutablePointer<loupe_outcome>) {
        let started = ContinuousClock.now
        defer { DIMSEMetrics.answered("C-STORE", status: outcome.pointee.status, since: started) }
        guard permits(.store, a) else {
            outcome.pointee.status = DIMSEStatus.notAuthorized.rawValue
            loupe_outcome_set_comment(outcome, "C-STORE is not allowed for this calling AE title")
            return
        }
        let staged = URL(fileURLWithPath: String(cString: request.file_path))
        let expected = ExpectedIdentity(sopClassUID: String(cString: request.sop_class_uid),
                                        sopInstanceUID: String(cString: request.sop_instance_uid))
        do {
            let result = try archive.ingest(staged: staged, source: IngestSource(origin: String(cString: a.calling_ae), requester: entry(a, .store)),
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
            audit?.record(entry(a, .store, outcome: .failure, detail: "C-STORE \(String(cString: request.sop_instance_uid)) refused: \(error.message)"))
        }
    }

    func find(_ a: loupe_association, _ query: loupe_query, _ responder: OpaquePointer?, _ outcome: UnsafeMutablePointer<loupe_outcome>) {
        let started = ContinuousClock.now
        defer { DIMSEMetrics.answered("C-FIND", status: outcome.pointee.status, since: started) }
        guard permits(.find, a) else {
            fail(outcome, DIMSEFailure(.notAuthorized, "C-FIND is not allowed for this calling AE title"), "C-FIND", a)
            return
        }
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
            var record = entry(a, .query, detail: "C-FIND \(Self.describe(identifier)): \(count) matches")
            record.patientID = identifier.string(.patientID).flatMap { $0.isEmpty || $0.contains("*") || $0.contains("?") ? nil : $0 }
            audit?.record(record)
        } catch {
            fail(outcome, error, "C-FIND", a)
        }
    }

    func retrieve(_ a: loupe_association, _ query: loupe_query, _ plan: OpaquePointer?, _ outcome: UnsafeMutablePointer<loupe_outcome>) {
        let destination = String(cString: query.move_destination)
        let operation = destination.isEmpty ? "C-GET" : "C-MOVE"
        guard permits(destination.isEmpty ? .get : .move, a) else {
            fail(outcome, DIMSEFailure(.notAuthorized, "\(operation) is not allowed for this calling AE title"), operation, a)
            return
        }
        do throws(DIMSEFailure) {
            let identifier = try Self.identifier(query)
            if !destination.isEmpty {
                guard let peer = configuration.peer(named: destination) else {
                    throw DIMSEFailure(.moveDestinationUnknown, "move destination \(destination) is not configured")
                }
                loupe_retrieve_set_destination(plan, peer.aeTitle, peer.host, peer.port, peer.tls ? 1 : 0)
            }
            let instances = try queries.retrieve(identifier: identifier, model: Self.model(query))
            for instance in instances {
                loupe_retrieve_add(plan, instance.fileURL.path, instance.sopClassUID, instance.sopInstanceUID,
                                   instance.transferSyntaxUID)
            }
            outcome.pointee.status = DIMSEStatus.success.rawValue
            logger.info("\(operation)", metadata: metadata(a).merging([
                "destination": "\(destination)", "instances": "\(instances.count)"]) { $1 })
            var record = entry(a, destination.isEmpty ? .retrieve : .export,
                               detail: "\(operation) \(Self.describe(identifier))" + (destination.isEmpty ? "" : " to \(destination)")
                                   + ": \(instances.count) instances")
            record.studyInstanceUID = identifier.string(.studyInstanceUID).flatMap { $0.contains("\\") ? nil : $0 }
            record.seriesInstanceUID = identifier.string(.seriesInstanceUID).flatMap { $0.contains("\\") ? nil : $0 }
            record.patientID = identifier.string(.patientID)
            audit?.record(record)
        } catch {
            fail(outcome, error, operation, a)
        }
    }

    /// An association's identity across the listeners (each counts its own ids from 1).
    private static func metricsKey(_ a: loupe_association) -> UInt64 { a.id << 1 | (a.tls != 0 ? 1 : 0) }

    func ended(_ a: loupe_association, _ reason: String) {
        DIMSEMetrics.ended(Self.metricsKey(a))
        if reason.hasPrefix("rejected") {
            DIMSEMetrics.rejected(reason)
            // Before an association existed (a failed TLS handshake, too many associations): warn and audit.
            logger.warning("connection \(reason)", metadata: metadata(a))
            if a.id == 0 { audit?.record(entry(a, .accessDenied, outcome: .failure, detail: reason)) }
        } else {
            logger.debug("association ended", metadata: metadata(a).merging(["reason": "\(reason)"]) { $1 })
        }
    }

    private func fail(_ outcome: UnsafeMutablePointer<loupe_outcome>, _ error: DIMSEFailure, _ operation: String, _ a: loupe_association) {
        outcome.pointee.status = error.status.rawValue
        loupe_outcome_set_comment(outcome, String(error.comment.prefix(64)))
        logger.warning("\(operation) failed", metadata: metadata(a).merging([
            "status": "\(error.status)", "reason": "\(error.comment)"]) { $1 })
    }

    /// The non-empty keys of an identifier (`STUDY PatientID=P1 StudyDate=2024…`), for the audit trail.
    static func describe(_ identifier: DataSet) -> String {
        let keys = identifier.elements.compactMap { element -> String? in
            guard element.tag != .queryRetrieveLevel, let value = identifier.string(element.tag), !value.isEmpty else { return nil }
            return "\(DataDictionary.shared.keyword(for: element.tag) ?? element.tag.hex)=\(value)"
        }
        return ([identifier.string(.queryRetrieveLevel) ?? "?"] + keys).joined(separator: " ")
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
