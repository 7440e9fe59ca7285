import Access
import Foundation
import HTTPTypes
import Hummingbird

/// Browser sessions: `GET /login` (the form), `POST /login` (a form post or JSON `{"user",
/// "password"}`), `POST /logout`, and `GET /api/session` (who the request is authenticated as).
///
/// The session cookie is HttpOnly, SameSite=Strict, Path=/, and Secure under HTTPS; it carries a
/// random secret of which the index keeps only the hash. A session's state-changing requests must
/// carry its CSRF token (`AccessMiddleware`).
extension DICOMwebService {
    func addSessionRoutes(to router: Router<Context>) {
        router.get("login") { request, _ in
            Self.loginPage(error: nil, next: RequestQuery(request.uri.query)["next"], root: self.rootPrefix)
        }
        router.post("login") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 16)
            let isForm = request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true
            let user: String, password: String, next: String?
            if isForm {
                let form = RequestQuery(String(buffer: body))
                (user, password, next) = (form["user"] ?? "", form["password"] ?? "", form["next"])
            } else {
                struct Login: Decodable { let user: String; let password: String }
                guard let login = try? JSONDecoder().decode(Login.self, from: Data(buffer: body)) else {
                    throw WebError.badRequest("POST /login takes a form (user, password) or JSON {\"user\", \"password\"}")
                }
                (user, password, next) = (login.user, login.password, nil)
            }
            let secret: String, identity: Identity
            do throws(AccessError) {
                (secret, identity) = try await self.access.login(user: user, password: password, address: context.peerAddress)
            } catch {
                let status = HTTPResponse.Status(code: error.httpStatus)
                if isForm {
                    var page = Self.loginPage(error: error.message, next: next, root: self.rootPrefix)
                    page.status = status
                    return page
                }
                throw HTTPError(status, message: error.message)
            }
            // A browser that logs in again leaves no session of its own behind.
            if let previous = request.cookies[self.access.configuration.sessions.cookieName]?.value, !previous.isEmpty {
                try? await self.access.endSession(secret: previous)
            }
            var response: Response
            if isForm {
                response = Response(status: .seeOther, headers: [.location: Self.safeRedirect(next, root: self.rootPrefix)])
            } else {
                response = try jsonResponse(SessionInfo(identity))
            }
            response.setCookie(sessionCookie(secret))
            return response
        }
        router.post("logout") { request, context in
            let identity = try context.requester
            guard identity.kind == .session, let secret = request.cookies[self.access.configuration.sessions.cookieName]?.value else {
                throw WebError.badRequest("logout ends a browser session; this request is authenticated otherwise")
            }
            do throws(AccessError) { try await self.access.logout(secret: secret, identity: identity) } catch {
                throw HTTPError(HTTPResponse.Status(code: error.httpStatus), message: error.message)
            }
            var response = Response(status: .seeOther, headers: [.location: "\(self.rootPrefix)/login"])
            response.setCookie(sessionCookie("", maxAge: 0))
            return response
        }
        router.get("api/session") { _, context in
            try jsonResponse(SessionInfo(try context.requester))
        }
    }

    /// Who a request is authenticated as, and (for a session) the CSRF token its scripts send.
    struct SessionInfo: Encodable {
        let user: String
        let kind: String
        let roles: [String]
        let permissions: [String]
        let patients: [String]?
        let csrfToken: String?

        init(_ identity: Identity) {
            user = identity.name
            kind = identity.kind.rawValue
            roles = identity.roles
            permissions = identity.permissions.names.sorted()
            patients = identity.patients?.sorted()
            csrfToken = identity.csrfToken
        }
    }

    private func sessionCookie(_ value: String, maxAge: Int? = nil) -> Cookie {
        let policy = access.configuration.sessions
        // Only for this node's public path: other applications behind the same proxy never see it.
        return Cookie(name: policy.cookieName, value: value, maxAge: maxAge, path: rootPrefix.isEmpty ? "/" : rootPrefix,
                      secure: policy.secureCookie, httpOnly: true, sameSite: .strict)
    }

    /// Only a path on this node (not `//host`, not a URL) is followed after login; else the start page.
    static func safeRedirect(_ next: String?, root: String = "") -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
              !next.unicodeScalars.contains(where: { $0.value < 0x20 }) else { return "\(root)/" }
        return next
    }

    /// The login form: no script, no external resource; every value escaped.
    static func loginPage(error: String?, next: String?, root: String) -> Response {
        let message = error.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? ""
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Loupe: log in</title><link rel="stylesheet" href="static/loupe.css"></head>
            <body class="login"><main><h1>Loupe</h1>\(message)
            <form method="post" action="login" class="form">
            <input type="hidden" name="next" value="\(HTML.escape(safeRedirect(next, root: root)))">
            <p><label for="user">User</label> <input id="user" name="user" autocomplete="username" required autofocus></p>
            <p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
            <p><button type="submit">Log in</button></p>
            </form></main></body></html>
            """
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// HTML text escaping (the characters that can end an attribute value or start markup).
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
