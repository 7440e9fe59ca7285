import Access
import ArgumentParser
import Archive
import DICOMweb
import DIMSE
import Featurizer
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Web

/// `loupe serve`: the archive, the DIMSE service, the HTTP service and the derivation workers,
/// until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the node: DIMSE and DICOMweb on the archive.")

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Seconds to let open associations finish on shutdown.")
    var shutdownGrace: Int = 30

    @Flag(name: .long, help: "Serve other machines without TLS (HTTP) or without caller rules (DIMSE) all the same; logged at every start.")
    var insecure = false

    func run() async throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: config.logLevel, format: config.logFormat)
        // Before anything counts: a metric made earlier would stay bound to swift-metrics' no-op backend.
        let metrics = Self.bootstrapMetrics()
        let logger = Logger(label: "loupe")
        let exposures = Exposure.unsafe(config)
        if !exposures.isEmpty {
            guard insecure else {
                throw ValidationError(exposures.joined(separator: "\n") + "\n(or start with --insecure to accept this)")
            }
            for exposure in exposures { logger.warning("insecure: \(exposure)") }
        }
        if let role = config.access.anonymousRole {
            logger.warning("HTTP requests without credentials are served as role \(role) (access.anonymous)")
        }
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let access = AccessControl(archive: archive, configuration: config.access, logger: Logger(label: "loupe.access"))
        try createInitialAdmin(access, dataDirectory: config.dataDirectory, logger: logger)
        let dimse = try DIMSEServer(configuration: config.dimse, archive: archive, audit: access.auditLog, logger: Logger(label: "loupe.dimse"))
        let embedder = Models.embedder(weights: config.modelWeights)
        if case .failure(let error) = embedder {
            logger.warning("no embedding model: embedding and anomaly jobs fail and similarity search is off", metadata: ["reason": "\(error)"])
        }
        let similarity = SimilarityProvider()
        let web = DICOMwebService(archive: archive, access: access, configuration: config.web, similarity: similarity,
                                  peers: Self.peerDirectory(config), metrics: metrics, logger: Logger(label: "loupe.web"))
        let router = web.router()
        try WebScreens(root: web.rootPrefix, archive: archive).addRoutes(to: router)
        var services: [any Service] = [
            try web.application(router: router), DIMSELifecycle(server: dimse, grace: shutdownGrace, logger: logger),
            AccessLifecycle(access: access, logger: Logger(label: "loupe.access")),
            SimilarityLifecycle(archive: archive, embedder: embedder, configuration: config, provider: similarity,
                                logger: Logger(label: "loupe.similarity")),
            EventRetention(archive: archive, days: config.eventRetentionDays, logger: Logger(label: "loupe.events")),
        ]
        if let mqtt = config.mqtt {
            services.append(AlertPublisher(archive: archive, client: try MQTTClient(mqtt),
                                           cursorFile: config.dataDirectory.appendingPathComponent("mqtt-cursor"),
                                           logger: Logger(label: "loupe.mqtt")))
        }
        if let syslog = config.syslog {
            services.append(AuditForwarder(archive: archive, configuration: syslog,
                                           source: AuditMessage.Source(aeTitle: config.dimse.aeTitle, host: ProcessInfo.processInfo.hostName,
                                                                       site: syslog.site),
                                           cursorFile: config.dataDirectory.appendingPathComponent("audit-syslog-cursor"),
                                           logger: Logger(label: "loupe.audit")))
        }
        if config.derivationWorkers > 0 {
            let workers = DerivationWorkers(archive: archive, processors: Derivations.processors(archive: archive, embedder: embedder, flush: config.flushThresholds),
                                            count: config.derivationWorkers, logger: Logger(label: "loupe.derivation"))
            services.append(DerivationLifecycle(workers: workers, logger: logger))
        } else {
            logger.notice("derivations paused (0 workers): jobs queue up for a later start or `loupe reprocess`")
        }
        logger.info("Loupe is running", metadata: [
            "data": "\(config.dataDirectory.path)", "ae": "\(config.dimse.aeTitle)", "dimse_port": "\(dimse.port)",
            "dimse_tls_port": "\(dimse.tlsPort.map(String.init) ?? "none")",
            "http": "\(config.web.tls == nil ? "http" : "https")://\(config.web.host):\(config.web.port)\(DICOMwebConfiguration.rootPath)",
            "peers": "\(config.dimse.peers.map(\.description).joined(separator: ","))",
            "derivations": "\(config.archive.derivation.processors.joined(separator: ","))",
            "derivation_workers": "\(config.derivationWorkers)"])
        // Where a person starts (`make run` shows it), and how to sign in the first time.
        var welcome = "Loupe's screens: \(Self.screensURL(config, root: web.rootPrefix))"
        let firstPassword = config.dataDirectory.appendingPathComponent("initial-admin-password")
        if FileManager.default.fileExists(atPath: firstPassword.path) { welcome += " (sign in as admin, password in \(firstPassword.path))" }
        FileHandle.standardOutput.write(Data((welcome + "\n").utf8))
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        archive.close()
        logger.info("stopped")
    }
}

extension Serve {
    /// Sends what the process counts through swift-metrics (Hummingbird's request metrics, DIMSE,
    /// MQTT) to a Prometheus registry, which `/metrics` exports. Prometheus names allow no dots:
    /// Hummingbird's `http.server.request.duration` becomes `http_server_request_duration`.
    static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (name.replacing(".", with: "_"), labels.map { ($0.0.replacing(".", with: "_"), $0.1) })
        }
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                                   .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                                   .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// The configured peers for the admin screen, with a C-ECHO from this node's AE title.
    static func peerDirectory(_ config: NodeConfiguration) -> PeerDirectory {
        let peers = config.dimse.peers
        let client = DIMSEClient(callingAETitle: config.dimse.aeTitle)
        return PeerDirectory(peers: peers.map { PeerDirectory.Peer(name: $0.name, aeTitle: $0.aeTitle, host: $0.host, port: Int($0.port), tls: $0.tls) }) { peer in
            let started = ContinuousClock.now
            let milliseconds = { (ContinuousClock.now - started) / .milliseconds(1) }
            guard let target = peers.first(where: { $0.name == peer.name }) else {
                return .init(peer: peer.name, success: false, status: "not configured", milliseconds: 0)
            }
            do {
                let outcome = try client.echo(target)
                return .init(peer: peer.name, success: outcome.status.isSuccess, status: "\(outcome.status)", milliseconds: milliseconds())
            } catch {
                return .init(peer: peer.name, success: false, status: "\(error)", milliseconds: milliseconds())
            }
        }
    }

    /// The address of the screens: the public URL's root when one is configured, else where HTTP listens.
    static func screensURL(_ config: NodeConfiguration, root: String) -> String {
        if let base = config.web.baseURL, var url = URLComponents(string: base) {
            url.path = root + "/"
            url.query = nil
            return url.string ?? base
        }
        let host = ["0.0.0.0", "::"].contains(config.web.host) ? "127.0.0.1" : config.web.host
        return "\(config.web.tls == nil ? "http" : "https")://\(host):\(config.web.port)\(root)/"
    }
}

/// What would expose patient data to the network unprotected.
enum Exposure {
    /// Each unsafe setting, with what to configure instead.
    static func unsafe(_ config: NodeConfiguration) -> [String] {
        var found: [String] = []
        if !isLoopback(config.web.host) && config.web.tls == nil {
            found.append("HTTP on \(config.web.host) without TLS: set http.tls (certificate, private_key), or http.host: 127.0.0.1 behind a TLS proxy")
        }
        if let role = config.access.anonymousRole, !isLoopback(config.web.host) {
            found.append("HTTP on \(config.web.host) answers requests without credentials as role \(role): remove access.anonymous")
        }
        // Only mutual TLS alone (no plain port) identifies callers without rules.
        let onlyMutualTLS = config.dimse.tls.map { !$0.plainPort && $0.requireClientCertificate } ?? false
        if !isLoopback(config.dimse.host) && config.dimse.allowedCallers.isEmpty && !onlyMutualTLS {
            found.append("DIMSE on \(config.dimse.host) open to every caller: list dimse.allowed_callers (AE titles, hosts, services)")
        }
        return found
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// `localhost`, or an IPv4 loopback address (127.0.0.0/8), or `::1`.
    static func isLoopback(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        if inet_pton(AF_INET6, host, &v6) == 1 { return host == "::1" || host == "0:0:0:0:0:0:0:1" }
        return host == "localhost"
    }
}

extension Serve {
    /// On the very first start (no user yet): `admin` with a random password, printed once on
    /// standard output and written to DATA/initial-admin-password (mode 0600) for `make run`.
    func createInitialAdmin(_ access: AccessControl, dataDirectory: URL, logger: Logger) throws {
        let actor = AuditRecord(actor: "loupe", actorKind: .system, address: nil, action: .userChanged)
        let password: String?
        do throws(AccessError) { password = try access.createInitialAdmin(actor: actor) } catch { throw ValidationError(error.message) }
        guard let password else { return }
        let file = dataDirectory.appendingPathComponent("initial-admin-password")
        // Created readable by this user only, never for a moment by others.
        let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            _ = Array("\(password)\n".utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        // Written straight to standard output, unbuffered: `make run` shows it at once.
        FileHandle.standardOutput.write(Data("""
            First start: created the user admin with the password
                \(password)
            (also in \(file.path), readable by this user only). Change it with `loupe user passwd admin`.

            """.utf8))
        logger.notice("created the initial admin user; its password is in the data directory", metadata: ["file": "\(file.path)"])
    }
}

/// The DIMSE server as a lifecycle service: runs until graceful shutdown, then lets open
/// associations finish (on its own thread: stopping blocks).
struct DIMSELifecycle: Service {
    let server: DIMSEServer
    let grace: Int
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down DIMSE", metadata: ["open_associations": "\(server.activeAssociations)"])
        let server = self.server, grace = self.grace
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                server.stop(grace: grace)
                done.resume()
            }
        }
    }
}
