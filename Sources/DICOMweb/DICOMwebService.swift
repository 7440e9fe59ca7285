import Access
import Archive
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Prometheus

/// The HTTP face of the archive: DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) under
/// `/dicom-web`, Loupe's own JSON under `/api`, `/healthz`, `/readyz`, `/metrics`, and the login; every route behind
/// `AccessMiddleware` (the screens of `Web` join the same router).
public struct DICOMwebService: Sendable {
    public typealias Context = LoupeRequestContext

    let archive: Archive
    let access: AccessControl
    let configuration: DICOMwebConfiguration
    let similarity: SimilarityProvider
    let peers: PeerDirectory
    /// What `/metrics` exports: the registry behind the process's swift-metrics (`loupe serve`
    /// bootstraps it), to which the values read at each scrape are added.
    let metrics: PrometheusCollectorRegistry
    let logger: Logger

    public init(archive: Archive, access: AccessControl, configuration: DICOMwebConfiguration,
                similarity: SimilarityProvider = SimilarityProvider(unavailable: "not configured"), peers: PeerDirectory = .none,
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger = Logger(label: "loupe.web")) {
        self.archive = archive
        self.access = access
        self.configuration = configuration
        self.similarity = similarity
        self.peers = peers
        self.metrics = metrics
        self.logger = logger
    }

    /// Every route, with CORS in front and access control behind it.
    public func router() -> Router<Context> {
        let router = Router(context: Context.self)
        // Requests by route pattern, method and status, with their durations (refused ones too).
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: CORS(origins: configuration.corsOrigins))
        let publicURL = configuration.baseURL.flatMap(URLComponents.init(string:))
        let publicOrigin = publicURL.flatMap { url in url.scheme.flatMap { scheme in url.host.map { "\(scheme)://\($0)" + (url.port.map { ":\($0)" } ?? "") } } }
        router.add(middleware: AccessMiddleware(access: access, archive: archive,
                                                trustedOrigins: configuration.corsOrigins.filter { $0 != "*" } + [publicOrigin].compactMap { $0 },
                                                publicHost: publicURL?.host, rootPrefix: rootPrefix))
        let root = router.group(RouterPath(DICOMwebConfiguration.rootPath))
        addSearchRoutes(to: root)
        addRetrieveRoutes(to: root)
        addMetadataRoutes(to: root)
        addFrameRoutes(to: root)
        addRenderedRoutes(to: root)
        addStoreRoutes(to: root)
        addWADOURIRoutes(to: router)
        addWADOURIRoutes(to: root)
        addAPIRoutes(to: router)
        addOperationsRoutes(to: router)
        addDerivationRoutes(to: router)
        addSimilarityRoutes(to: router)
        addEventRoutes(to: router)
        addPhotoRoutes(to: router)
        addSessionRoutes(to: router)
        addAuditRoutes(to: router)
        addFindingRoutes(to: router)
        addFlushWatchRoutes(to: router)
        addAdminRoutes(to: router)
        return router
    }

    /// The path before `/dicom-web` in the public URL (`base_url`), "" without one: where the login
    /// page and the screens are.
    public var rootPrefix: String {
        guard var path = configuration.baseURL.flatMap({ URLComponents(string: $0)?.path }) else { return "" }
        while path.hasSuffix("/") { path.removeLast() }  // https://host/pacs/dicom-web/ too
        let trimmed = path.hasSuffix(DICOMwebConfiguration.rootPath) ? String(path.dropLast(DICOMwebConfiguration.rootPath.count)) : path
        return trimmed.hasSuffix("/") ? String(trimmed.dropLast()) : trimmed
    }

    /// The application, listening where the configuration says (HTTPS when it has TLS), on `router`
    /// (default: this service's routes). Throws when the certificate or key cannot be read.
    public func application(router: Router<Context>? = nil) throws -> some ApplicationProtocol {
        let (bodyRate, logger) = (configuration.bodyRate, logger)
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [BodyRateHandler(rate: bodyRate, logger: logger)],
                                               idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))
        var server = HTTPServerBuilder.http1(configuration: http1)
        if let tls = configuration.tls {
            var settings = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKeyFile, format: .pem)))
            settings.minimumTLSVersion = .tlsv12
            server = try .tls(.http1(configuration: http1), tlsConfiguration: settings)
        }
        return Application(router: router ?? self.router(), server: server,
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Loupe",
                                                availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: logger)),
                           logger: logger)
    }

    /// Registers one handler on `studies/{study}`, `…/series/{series}` and `…/instances/{instance}`,
    /// each followed by `suffix` (the resources WADO-RS defines at all three levels).
    func getAtEachLevel(_ group: RouterGroup<Context>, suffix: String = "",
                        _ handler: @escaping @Sendable (Request, String, String?, String?) async throws -> Response) {
        let tail = suffix.isEmpty ? "" : "/\(suffix)"
        group.get(RouterPath("studies/:study\(tail)")) { request, context in
            try await handler(request, try context.parameters.require("study"), nil, nil)
        }
        group.get(RouterPath("studies/:study/series/:series\(tail)")) { request, context in
            try await handler(request, try context.parameters.require("study"), try context.parameters.require("series"), nil)
        }
        group.get(RouterPath("studies/:study/series/:series/instances/:instance\(tail)")) { request, context in
            try await handler(request, try context.parameters.require("study"), try context.parameters.require("series"),
                              try context.parameters.require("instance"))
        }
    }

    func publicURL(_ request: Request) -> PublicURL {
        PublicURL(request: request, configured: configuration.baseURL, rootPath: DICOMwebConfiguration.rootPath)
    }
}

extension QueryError {
    /// The HTTP error a failed archive query answers with.
    var httpError: HTTPError { HTTPError(HTTPResponse.Status(code: httpStatus), message: message) }
}
