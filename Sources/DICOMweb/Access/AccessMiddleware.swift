import Access
import Archive
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth

/// Authenticates every request and lets it through only when its identity meets what
/// `AccessTable` says the matched route needs; then records reads in the audit trail.
///
/// Runs after routing (Hummingbird builds router middleware into each endpoint), so the matched
/// route pattern is known. A request that matches no route needs only an identity (an
/// unauthenticated client learns nothing about which paths exist). A route missing from the table
/// is refused to everyone.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = LoupeRequestContext

    let access: AccessControl
    let archive: Archive
    /// Origins allowed to send state-changing requests besides the node's own: the CORS origins
    /// named (not `*`) and the public URL's.
    let trustedOrigins: [String]
    /// The host of the public URL (`base_url`), when one is configured.
    let publicHost: String?
    /// Where the login page is (`{rootPrefix}/login`).
    let rootPrefix: String

    static let challenge = #"Basic realm="Loupe", Bearer realm="Loupe""#
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    /// The form field that carries the CSRF token in an HTML form post.
    static let csrfField = "csrf"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = context.endpointPath
        let requirement = route.flatMap { AccessTable.requirement(method: request.method.rawValue, route: $0) }
        if !Self.isSafe(request.method) { try checkOrigin(request) }
        if requirement == .open { return try await next(request, context) }

        let identity: Identity
        let credential = try Self.credential(of: request, cookieName: access.configuration.sessions.cookieName)
        if let credential {
            do {
                identity = try await access.authenticate(credential, address: context.peerAddress)
            } catch {
                if error.kind == .unauthenticated, Self.wantsPage(request) { return toLogin(request) }
                throw error.kind == .unauthenticated ? Self.unauthorized(error.message) : HTTPError(.init(code: error.httpStatus), message: error.message)
            }
        } else if let anonymous = access.anonymous(address: context.peerAddress), addressedDirectly(request) {
            identity = anonymous
        } else {
            if Self.wantsPage(request) { return toLogin(request) }
            throw Self.unauthorized("authentication required: HTTP Basic, a bearer token or a session (POST /login)")
        }
        var request = request
        if !Self.isSafe(request.method), identity.kind == .session { try await checkCSRF(&request, identity: identity) }
        var context = context
        context.identity = identity
        context.credential = credential
        guard let route else { return try await next(request, context) }  // no such route: 404 for those who may know
        guard let requirement else { throw deny(identity, "no permission is declared for \(request.method) \(route)") }
        guard requirement.isMet(by: identity) else {
            throw deny(identity, "\(request.method) \(route) needs the permission \(requirement); "
                       + "\(identity.name) has roles \(identity.roles.joined(separator: ", "))")
        }
        let target = AuditTarget(route: route, requirement: requirement, request: request, parameters: context.parameters)
        // STOW checks each instance's patient itself (a study posted to may not exist yet).
        if identity.patients != nil, requirement != .permission(.store) {
            try await checkPatientScope(identity, target: target)
        }
        if AccessTable.isReading(requirement) && identity.readsPhotosOnly {
            try await checkPhotographs(identity, target: target, all: true)
        } else if AccessTable.isSearching(requirement) && identity.searchesPhotosOnly {
            try await checkPhotographs(identity, target: target, all: false)
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError where error.status == .forbidden {
            access.auditLog.record(identity.audit(.accessDenied, outcome: .failure, detail: "\(target.detail(request)): \(error.body ?? "")"))
            throw error
        }
        let key = "\(request.method) \(route)"
        if response.status.code < 400, AccessTable.pages[key] == nil || AccessTable.pagesWithPatientData.contains(key),
           let action = Self.auditAction(requirement, method: request.method) {
            access.auditLog.record(identity.audit(action, patientID: target.patientID, studyInstanceUID: target.study,
                                                  seriesInstanceUID: target.series, sopInstanceUID: target.instance,
                                                  detail: target.detail(request)))
        }
        return response
    }

    /// The credential a request presents: its Authorization header, else its session cookie. A
    /// header that is neither Basic nor Bearer, or a malformed one, is refused.
    static func credential(of request: Request, cookieName: String) throws -> AccessControl.Credential? {
        if let authorization = request.headers[.authorization] {
            if let basic = request.headers.basic { return .basic(user: basic.username, password: basic.password) }
            if let bearer = request.headers.bearer, !bearer.token.isEmpty, !bearer.token.contains(" ") { return .bearer(bearer.token) }
            let scheme = authorization.split(separator: " ").first.map(String.init) ?? ""
            throw unauthorized(["Basic", "Bearer"].contains(scheme) ? "malformed \(scheme) credentials in the Authorization header"
                               : "Authorization scheme '\(scheme.prefix(20))' is not supported (Basic or Bearer)")
        }
        if let session = request.cookies[cookieName]?.value, !session.isEmpty { return .session(session) }
        return nil
    }

    /// A browser asking for a page (not a script asking for data): sent to the login form instead of a 401.
    static func wantsPage(_ request: Request) -> Bool {
        request.method == .get && (request.headers[.accept]?.contains("text/html") ?? false)
    }

    private func toLogin(_ request: Request) -> Response {
        // The public path: a proxy under base_url's path passes requests on without it.
        let next = rootPrefix + request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
        let encoded = next.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#"))) ?? "/"
        return Response(status: .seeOther, headers: [.location: "\(rootPrefix)/login?next=\(encoded)", .cacheControl: "no-store"])
    }

    static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(.unauthorized, headers: [.wwwAuthenticate: challenge], message: message)
    }

    static func isSafe(_ method: HTTPRequest.Method) -> Bool { [.get, .head, .options].contains(method) }

    /// A state-changing request that a browser sent from another site (its Origin header) is refused:
    /// browsers attach Basic credentials and cookies to those on their own.
    private func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        if trustedOrigins.contains(origin) { return }
        if let host = request.head.authority, origin.hasSuffix("://" + host) { return }
        throw HTTPError(.forbidden, message: "cross-origin \(request.method) from \(origin) refused")
    }

    /// Requests without credentials are served as the anonymous role only when they name the node by
    /// address (or its public host): a web page whose name was made to resolve to the node (DNS
    /// rebinding) names its own host and gets 401.
    private func addressedDirectly(_ request: Request) -> Bool {
        guard let authority = request.head.authority else { return true }  // HTTP/1.0 without Host
        let host = authority.hasPrefix("[") ? String(authority.dropFirst().prefix { $0 != "]" })
            : String(authority.split(separator: ":", maxSplits: 1).first ?? "")
        return host == "localhost" || host == publicHost || IPAddress.isLiteral(host)
    }

    /// A session's state-changing request must carry its CSRF token (header, or form field `csrf`).
    private func checkCSRF(_ request: inout Request, identity: Identity) async throws {
        // Every session has a token; one without is refused rather than let through.
        guard let expected = identity.csrfToken else { throw HTTPError(.forbidden, message: "this session has no CSRF token") }
        var presented = request.headers[Self.csrfHeader]
        if presented == nil, request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            let body = try await request.collectBody(upTo: 1 << 20)
            presented = RequestQuery(String(buffer: body))[Self.csrfField]
        }
        guard let presented, Secret.equal(presented, expected) else {
            throw HTTPError(.forbidden, message: "missing or wrong CSRF token (X-CSRF-Token header or form field csrf)")
        }
    }

    private func deny(_ identity: Identity, _ message: String) -> HTTPError {
        access.auditLog.record(identity.audit(.accessDenied, outcome: .failure, detail: message))
        return HTTPError(.forbidden, message: message)
    }

    /// An identity limited to some patients reaches only their records, studies and instances: every
    /// one the request names must belong to them (an unknown one counts as another patient's, so
    /// existence is not revealed). Routes that name none filter their answers themselves.
    private func checkPatientScope(_ identity: Identity, target: AuditTarget) async throws {
        let archive = self.archive
        let (study, instance) = (target.study, target.instance)
        let owners = try await blocking { () throws -> [String?] in
            try [study.flatMap { try archive.patientID(ofStudy: $0) }, instance.flatMap { try archive.patientID(ofInstance: $0) }]
        }
        let named = ([target.patientID] + owners).compactMap { $0 }
        let asked = [target.patientID, study, instance].compactMap { $0 }.count
        guard named.count == asked, named.allSatisfy(identity.mayAccess(patient:)) else {
            throw deny(identity, "\(identity.name) is limited to other patients")
        }
    }

    /// An identity limited to clinical photographs reaches only their series and instances, and a
    /// study only when it holds nothing else (`all`, reading) or holds some (searching in it: the
    /// search is narrowed to them).
    private func checkPhotographs(_ identity: Identity, target: AuditTarget, all: Bool) async throws {
        let archive = self.archive
        let (study, series, instance) = (target.study, target.series, target.instance)
        let modalities = try await blocking { () throws -> [String]? in
            if let instance { return try archive.modality(ofInstance: instance).map { [$0] } }
            if let series { return try archive.modality(ofSeries: series).map { [$0] } }
            if let study { return try archive.seriesModalities(ofStudy: study) }
            return nil  // nothing named: a search, narrowed by its handler
        }
        guard let modalities else { return }
        let photographs = modalities.filter(Archive.clinicalPhotographModalities.contains)
        guard !photographs.isEmpty, !all || photographs.count == modalities.count else {
            throw deny(identity, "\(identity.name) may read clinical photographs only")
        }
    }

    /// Which reads the trail records here (writes record themselves, in their transactions).
    static func auditAction(_ requirement: Requirement, method: HTTPRequest.Method) -> AuditRecord.Action? {
        if AccessTable.isReading(requirement) { return .retrieve }
        switch requirement {
        case .permission(.search), .permission(.similar), .anyOf: return .query
        case .permission(let permission) where method == .get && (permission == .admin || permission.rawValue.hasPrefix("events:")):
            return .query
        default: return nil
        }
    }
}
