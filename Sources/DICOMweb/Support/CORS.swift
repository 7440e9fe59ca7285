import Hummingbird

/// Cross-origin access for browser viewers (OHIF served from another origin): the configured
/// origins (or `*`) get the CORS headers, and preflight requests are answered here.
struct CORS<Context: RequestContext>: RouterMiddleware {
    let origins: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !origins.isEmpty, let origin = request.headers[.origin] else {
            return try await next(request, context)
        }
        let allowed = origins.contains("*") ? "*" : (origins.contains(origin) ? origin : nil)
        guard let allowed else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers: HTTPFields = [:]
            headers[.accessControlAllowOrigin] = allowed
            headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "Accept, Content-Type, Authorization"
            headers[.accessControlMaxAge] = "86400"
            if allowed != "*" { headers[.vary] = "Origin" }
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.accessControlAllowOrigin] = allowed
        response.headers[.accessControlExposeHeaders] = "Content-Type, Content-Length, X-Total-Count, Warning"
        if allowed != "*" { response.headers[.vary] = "Origin" }
        return response
    }
}
