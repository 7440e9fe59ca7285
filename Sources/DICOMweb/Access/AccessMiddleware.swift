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
    /// Origins allowed to send state-changing requests besides the node's own (CORS origins).
    let trustedOrigins: [String]

    static let challenge = #"Basic realm="Loupe", Bearer realm="Loupe""#
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    /// The form field that carries the CSRF token in an HTML form post.
    static let csrfField = "csrf"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = context.endpointPath
        let requirement = route.flatMap { AccessTable.requirement(method: request.method.rawValue, route: $0) }
        if !Self.isSafe(request.method) { try checkOrigin(request) }
        if requirement == .open { return try await next(request, context) }

        guard let credential = try Self.credential(of: request, cookieName: access.configuration.sessions.cookieName) else {
            throw Self.unauthorized("authentication required: HTTP Basic, a bearer token or a session (POST /login)")
        }
        let identity: Identity
        do {
            identity = try await access.authenticate(credential, address: context.peerAddress)
        } catch {
            throw error.kind == .unauthenticated ? Self.unauthorized(error.message) : HTTPError(.init(code: error.httpStatus), message: error.message)
        }
        var request = request
        if !Self.isSafe(request.method), identity.kind == .session { try await checkCSRF(&request, identity: identity) }
        var context = context
        context.identity = identity
        guard let route else { return try await next(request, context) }  // no such route: 404 for those who may know
        guard let requirement else { throw deny(identity, "no permission is declared for \(request.method) \(route)") }
        guard requirement.isMet(by: identity) else {
            throw deny(identity, "\(request.method) \(route) needs the permission \(requirement); "
                       + "\(identity.name) has roles \(identity.roles.joined(separator: ", "))")
        }
        let target = AuditTarget(request: request, parameters: context.parameters)
        if identity.patients != nil {
            try await checkPatientScope(identity, target: target)
        }
        let response = try await next(request, context)
        if response.status.code < 400, let action = Self.auditAction(requirement, method: request.method) {
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

    static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(.unauthorized, headers: [.wwwAuthenticate: challenge], message: message)
    }

    static func isSafe(_ method: HTTPRequest.Method) -> Bool { [.get, .head, .options].contains(method) }

    /// A state-changing request that a browser sent from another site (its Origin header) is refused:
    /// browsers attach Basic credentials and cookies to those on their own.
    private func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        if trustedOrigins.contains("*") || trustedOrigins.contains(origin) { return }
        if let host = request.head.authority, origin.hasSuffix("://" + host) { return }
        throw HTTPError(.forbidden, message: "cross-origin \(request.method) from \(origin) refused")
    }

    /// A session's state-changing request must carry its CSRF token (header, or form field `csrf`).
    private func checkCSRF(_ request: inout Request, identity: Identity) async throws {
        guard let expected = identity.csrfToken else { return }
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

    /// An identity limited to some patients reaches only their studies, instances and records.
    private func checkPatientScope(_ identity: Identity, target: AuditTarget) async throws {
        let archive = self.archive
        let patient: String?
        if let id = target.patientID {
            patient = id
        } else if let study = target.study {
            patient = try await blocking { try archive.patientID(ofStudy: study) }
        } else if let instance = target.instance {
            patient = try await blocking { try archive.patientID(ofInstance: instance) }
        } else {
            return  // routes without a patient in their path filter their answers by scope themselves
        }
        guard identity.mayAccess(patient: patient) else {
            throw deny(identity, "\(identity.name) is limited to other patients")
        }
    }

    /// Which reads the trail records here (writes record themselves, in their transactions).
    static func auditAction(_ requirement: Requirement, method: HTTPRequest.Method) -> AuditRecord.Action? {
        switch requirement {
        case .permission(.read): .retrieve
        case .permission(.search), .permission(.similar), .anyOf: .query
        case .permission(.admin) where method == .get: .query
        default: nil
        }
    }
}
