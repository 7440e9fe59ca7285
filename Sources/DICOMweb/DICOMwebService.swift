import Archive
import Hummingbird
import Logging

/// The HTTP face of the archive: DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) under
/// `/dicom-web`, Loupe's own JSON under `/api`, and `/healthz`.
public struct DICOMwebService: Sendable {
    public typealias Context = BasicRequestContext

    let archive: Archive
    let configuration: DICOMwebConfiguration
    let similarity: SimilarityProvider
    let logger: Logger

    public init(archive: Archive, configuration: DICOMwebConfiguration,
                similarity: SimilarityProvider = SimilarityProvider(unavailable: "not configured"),
                logger: Logger = Logger(label: "loupe.web")) {
        self.archive = archive
        self.configuration = configuration
        self.similarity = similarity
        self.logger = logger
    }

    /// Every route, with CORS in front.
    public func router() -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: CORS(origins: configuration.corsOrigins))
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
        addDerivationRoutes(to: router)
        addSimilarityRoutes(to: router)
        addEventRoutes(to: router)
        addPhotoRoutes(to: router)
        return router
    }

    /// The application, listening where the configuration says.
    public func application() -> some ApplicationProtocol {
        Application(router: router(), configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                                          serverName: "Loupe"),
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
