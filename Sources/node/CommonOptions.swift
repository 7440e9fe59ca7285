import Access
import ArgumentParser
import Archive
import Classifier
import DICOM
import DICOMweb
import DIMSE
import Featurizer
import Foundation

/// Options every subcommand shares: the configuration file and the overrides of its main keys.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    @Option(name: .long, help: "Data directory (index, files). Default: ./loupe-data")
    var data: String?

    @Option(name: .long, help: "Loupe's AE title. Default: LOUPE")
    var ae: String?

    @Option(name: .long, help: "DIMSE port. Default: 11112")
    var dimsePort: UInt16?

    @Option(name: .long, help: "DIMSE address to bind. Default: 127.0.0.1")
    var dimseHost: String?

    @Option(name: .long, help: "HTTP port (DICOMweb). Default: 8080")
    var httpPort: UInt16?

    @Option(name: .long, help: "HTTP address to bind. Default: 127.0.0.1")
    var httpHost: String?

    @Option(name: .long, help: "An origin browsers may call DICOMweb from (repeatable; * for any).")
    var corsOrigin: [String] = []

    @Option(name: .long, help: "The public URL of /dicom-web (behind a proxy).")
    var baseURL: String?

    @Option(name: .long, help: "A DICOM peer, NAME=AE@HOST:PORT (repeatable). NAME is the move destination users give.")
    var peer: [String] = []

    @Option(name: .long, help: "What to do with an instance already archived: keep or replace.")
    var duplicates: DuplicatePolicy?

    @Option(name: .long, help: "Derivation worker threads (PNG, embedding after ingest); 0 pauses derivations (jobs still queue). Default: one per core.")
    var derivationWorkers: Int?

    @Option(name: .long, help: "EfficientNet-Lite0 weights (made by `make model`). Default: models/efficientnet-lite0.weights in the working directory or above the binary.")
    var model: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String?

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: String?

    func resolve() throws -> NodeConfiguration {
        let file = try config.map(ConfigurationFile.load) ?? ConfigurationFile()
        let dataPath = data ?? file.data ?? "./loupe-data"
        let dataDirectory = URL(fileURLWithPath: dataPath).standardizedFileURL
        var derivation = Derivations.policy
        derivation.maxAttempts = file.derivation?.max_attempts ?? derivation.maxAttempts
        derivation.firstRetryDelay = file.derivation?.retry_delay ?? derivation.firstRetryDelay
        guard derivation.maxAttempts >= 1, derivation.firstRetryDelay >= 0 else {
            throw ValidationError("derivation max_attempts must be at least 1 and retry_delay not negative")
        }
        var archive = ArchiveConfiguration(dataDirectory: dataDirectory,
                                           duplicatePolicy: duplicates ?? file.archive?.duplicates ?? .keep,
                                           derivation: derivation)
        if let free = file.archive?.min_free_mb {
            guard (0...(1 << 30)).contains(free) else { throw ValidationError("archive min_free_mb must be 0 to 1073741824") }
            archive.minimumFreeBytes = free << 20
        }
        if let inflated = file.archive?.max_inflated_mb {
            let most = ReadOptions.headerOnly.maximumInflatedBytes >> 20
            guard (1...most).contains(inflated) else { throw ValidationError("archive max_inflated_mb must be 1 to \(most)") }
            archive.maximumInflatedBytes = inflated << 20
        }
        let workers = derivationWorkers ?? file.derivation?.workers ?? ProcessInfo.processInfo.activeProcessorCount
        guard workers >= 0 else { throw ValidationError("derivation workers must not be negative") }
        var peers: [DICOMPeer] = []
        for (name, address) in (file.peers ?? [:]).sorted(by: { $0.key < $1.key }) {
            peers.append(try DICOMPeer(parsing: "\(name)=\(address)"))
        }
        for text in peer {
            let parsed = try DICOMPeer(parsing: text)
            peers.removeAll { $0.name == parsed.name }
            peers.append(parsed)
        }
        let section = file.dimse
        let aeTitle = ae ?? file.ae_title ?? "LOUPE"
        guard AETitle.isValid(aeTitle) else { throw ValidationError("AE title '\(aeTitle)' is not a valid AE title") }
        let tls = try section?.tls.map { t in
            DIMSETLSConfiguration(port: t.port ?? 2762, certificateFile: try Self.readable(t.certificate, "dimse tls certificate"),
                                  privateKeyFile: try Self.readable(t.private_key, "dimse tls private_key"),
                                  caFile: try t.ca.map { try Self.readable($0, "dimse tls ca") },
                                  requireClientCertificate: t.require_client_certificate ?? false,
                                  matchAETitleToCertificate: t.match_ae_title_to_certificate ?? false, plainPort: t.plain_port ?? true)
        }
        let callers = try (section?.allowed_callers ?? []).map { caller in
            guard AETitle.isValid(caller.ae) else { throw ValidationError("dimse allowed_callers: '\(caller.ae)' is not an AE title") }
            let services = try (caller.services ?? DIMSEService.allCases.map(\.rawValue)).map { name in
                guard let service = DIMSEService(rawValue: name) else {
                    throw ValidationError("dimse allowed_callers \(caller.ae): unknown service '\(name)' (echo, store, find, move, get)")
                }
                return service
            }
            return AllowedCaller(aeTitle: caller.ae, host: caller.host, services: Set(services), tlsOnly: caller.tls ?? false)
        }
        let dimse = DIMSEConfiguration(
            aeTitle: aeTitle,
            host: dimseHost ?? section?.host ?? "127.0.0.1",
            port: dimsePort ?? section?.port ?? 11112,
            tls: tls,
            maxAssociations: section?.max_associations ?? 16,
            acseTimeoutSeconds: section?.acse_timeout ?? 30,
            dimseTimeoutSeconds: section?.dimse_timeout ?? 60,
            requireCalledAETitle: section?.require_called_ae_title ?? true,
            allowedCallers: callers,
            peers: peers,
            caseInsensitivePersonNames: section?.case_insensitive_person_names ?? true)
        let httpTLS = try file.http?.tls.map { t in
            HTTPTLSConfiguration(certificateFile: try Self.readable(t.certificate, "http tls certificate"),
                                 privateKeyFile: try Self.readable(t.private_key, "http tls private_key"))
        }
        var web = DICOMwebConfiguration(
            host: httpHost ?? file.http?.host ?? "127.0.0.1", port: Int(httpPort ?? file.http?.port ?? 8080), tls: httpTLS,
            corsOrigins: corsOrigin.isEmpty ? (file.http?.cors_origins ?? []) : corsOrigin,
            baseURL: baseURL ?? file.http?.base_url, caseInsensitivePersonNames: dimse.caseInsensitivePersonNames)
        func bounded(_ value: Int?, _ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let value else { return nil }
            guard range.contains(value) else { throw ValidationError("http \(key) must be \(range.lowerBound) to \(range.upperBound)") }
            return value
        }
        web.maxUploadBytes = try bounded(file.http?.max_upload_mb, "max_upload_mb", 1...(1 << 20)).map { $0 << 20 } ?? web.maxUploadBytes
        web.maxParts = try bounded(file.http?.max_parts, "max_parts", 1...1_000_000) ?? web.maxParts
        web.maxConnections = try bounded(file.http?.max_connections, "max_connections", 1...1_000_000) ?? web.maxConnections
        web.idleTimeoutSeconds = try bounded(file.http?.idle_timeout, "idle_timeout", 1...86_400) ?? web.idleTimeoutSeconds
        web.bodyRate.graceSeconds = try bounded(file.http?.body_timeout, "body_timeout", 1...86_400) ?? web.bodyRate.graceSeconds
        web.bodyRate.bytesPerSecond = try bounded(file.http?.min_body_rate, "min_body_rate", 0...(1 << 30)) ?? web.bodyRate.bytesPerSecond
        var vectorIndex = VectorIndex.Configuration(dimension: EfficientNetLite0.featureCount)
        vectorIndex.hnswThreshold = file.similarity?.hnsw_threshold ?? vectorIndex.hnswThreshold
        vectorIndex.efSearch = file.similarity?.ef_search ?? vectorIndex.efSearch
        guard vectorIndex.hnswThreshold >= 1, vectorIndex.efSearch >= 1 else {
            throw ValidationError("similarity hnsw_threshold and ef_search must be at least 1")
        }
        let eventRetentionDays = file.events?.retention_days ?? 30
        guard eventRetentionDays >= 0 else { throw ValidationError("events retention_days must not be negative") }
        var flush = FlushThresholds()
        flush.mild = file.flush?.mild ?? flush.mild
        flush.marked = file.flush?.marked ?? flush.marked
        guard flush.mild.isFinite, flush.marked.isFinite, flush.mild > 0, flush.marked >= flush.mild else {
            throw ValidationError("flush thresholds must be positive, with marked at least mild")
        }
        let mqtt = try file.mqtt.map { section in
            let port = section.port ?? 1883
            guard !section.host.isEmpty, (1...65_535).contains(port) else { throw ValidationError("mqtt needs a host and a port in 1…65535") }
            return MQTTConfiguration(host: section.host, port: port, clientID: section.client_id ?? "loupe-\(aeTitle)",
                                     username: section.username, password: section.password)
        }
        return NodeConfiguration(
            dataDirectory: dataDirectory, archive: archive, dimse: dimse, web: web, derivationWorkers: workers,
            modelWeights: Models.weightsURL(configured: model ?? file.similarity?.model), vectorIndex: vectorIndex,
            eventRetentionDays: eventRetentionDays, flushThresholds: flush, mqtt: mqtt,
            // Secure cookies under HTTPS, Loupe's own or a proxy's in front of it.
            access: try Self.access(file.access, secureCookie: httpTLS != nil || web.baseURL?.hasPrefix("https://") == true),
            syslog: try Self.syslog(file.audit),
            logLevel: logLevel ?? file.log_level ?? "info", logFormat: logFormat ?? file.log_format ?? "text")
    }

    /// The `access` section: roles, sessions, login throttling, OIDC.
    /// The `audit` section's collector.
    static func syslog(_ section: ConfigurationFile.AuditSection?) throws -> SyslogConfiguration? {
        try section?.syslog.map { s in
            let port = s.port ?? 6514
            guard !s.host.isEmpty, (1...65_535).contains(port) else { throw ValidationError("audit syslog needs a host and a port in 1…65535") }
            return SyslogConfiguration(host: s.host, port: port, caFile: try readable(s.ca, "audit syslog ca"),
                                       certificateFile: try readable(s.certificate, "audit syslog certificate"),
                                       privateKeyFile: try readable(s.private_key, "audit syslog private_key"), site: section?.site)
        }
    }

    /// A file the node needs to read (a certificate, a key): checked at start, not at first use.
    static func readable(_ path: String, _ what: String) throws -> String {
        guard FileManager.default.isReadableFile(atPath: path) else { throw ValidationError("\(what): cannot read \(path)") }
        return path
    }

    static func access(_ section: ConfigurationFile.AccessSection?, secureCookie: Bool) throws -> AccessConfiguration {
        let roles: RoleCatalog
        do throws(AccessError) { roles = try RoleCatalog(definitions: section?.roles ?? [:]) } catch {
            throw ValidationError("access roles: \(error.message)")
        }
        var sessions = SessionPolicy()
        sessions.secureCookie = secureCookie
        sessions.idleTimeout = (section?.session?.idle_minutes).map { $0 * 60 } ?? sessions.idleTimeout
        sessions.absoluteTimeout = (section?.session?.absolute_hours).map { $0 * 3600 } ?? sessions.absoluteTimeout
        guard sessions.idleTimeout > 0, sessions.absoluteTimeout >= sessions.idleTimeout else {
            throw ValidationError("access session: idle_minutes must be positive and absolute_hours at least as long")
        }
        var throttle = LoginThrottle.Policy()
        let limits = section?.login_throttle
        throttle.maxFailuresPerUser = limits?.max_failures_per_user ?? throttle.maxFailuresPerUser
        throttle.maxFailuresPerAddress = limits?.max_failures_per_address ?? throttle.maxFailuresPerAddress
        throttle.window = (limits?.window_minutes).map { $0 * 60 } ?? throttle.window
        guard throttle.maxFailuresPerUser >= 1, throttle.maxFailuresPerAddress >= 1, throttle.window > 0 else {
            throw ValidationError("access login_throttle: limits must be at least 1 and the window positive")
        }
        let oidc = try section?.oidc.map { o in
            // Keys fetched over plain HTTP could be swapped on the way: HTTPS, but for a provider on this machine.
            func secure(_ url: URL?) -> Bool { url?.scheme == "https" || (url?.scheme == "http" && Exposure.isLoopback(url?.host ?? "")) }
            guard secure(URL(string: o.issuer)), !o.audience.isEmpty else {
                throw ValidationError("access oidc: issuer must be an https URL (http only on loopback) and audience this node's client ID")
            }
            var oidc = OIDCConfiguration(issuer: o.issuer, audience: o.audience)
            if let text = o.jwks_url {
                guard let url = URL(string: text), secure(url) else { throw ValidationError("access oidc: jwks_url '\(text)' is not an https URL") }
                oidc.jwksURL = url
            }
            oidc.rolesClaim = o.roles_claim ?? oidc.rolesClaim
            oidc.usernameClaim = o.username_claim ?? oidc.usernameClaim
            oidc.roleMapping = o.role_mapping ?? [:]
            oidc.leeway = o.leeway_seconds ?? oidc.leeway
            return oidc
        }
        if let anonymous = section?.anonymous {
            do throws(AccessError) {
                guard try !roles.permissions(of: [anonymous]).contains(.admin) else {
                    throw AccessError.configuration("a role with the admin permission")
                }
            } catch {
                throw ValidationError("access anonymous: \(error.message) cannot serve requests without credentials")
            }
        }
        return AccessConfiguration(roles: roles, sessions: sessions, throttle: throttle, oidc: oidc, anonymousRole: section?.anonymous)
    }
}

extension DuplicatePolicy: ExpressibleByArgument {}
