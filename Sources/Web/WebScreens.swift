import Access
import Archive
import DICOMweb
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Loupe's screens: server-rendered pages (swift-mustache, which escapes every value) and the
/// static ES modules and CSS they load, on the HTTP service's router, behind its access control.
/// Pages are shells: their data comes from DICOMweb and `/api` in the browser, so a page never
/// waits for a slow derivation (the study page lists its series itself: the viewer starts sooner).
public struct WebScreens: Sendable {
    let archive: Archive
    let library: MustacheLibrary
    let assets: URL
    /// The public path the screens are under (`DICOMwebService.rootPrefix`: `/pacs` when the base
    /// URL is `https://host/pacs/dicom-web`), "" for the root.
    let root: String

    public init(root: String, archive: Archive) throws {
        self.archive = archive
        guard let resources = Bundle.module.resourceURL else { throw WebScreensError("the web resources are missing") }
        library = try MustacheLibrary(templates: Self.templates(in: resources.appendingPathComponent("Templates")))
        assets = resources.appendingPathComponent("Static")
        self.root = root
    }

    /// Every page and asset route.
    public func addRoutes(to router: Router<LoupeRequestContext>) {
        page(router, "/", "studies", title: "Studies")
        let archive = self.archive
        page(router, "/studies/:study", "study", title: "Study", imports: ["viewer"]) { context in
            let study = try context.parameters.require("study")
            let identified = context.identity?.may(.phi) ?? false
            let outline = try await blocking { () throws -> StudyOutline in
                do throws(QueryError) { return try StudyOutline(study: study, archive: archive, identified: identified) } catch {
                    throw HTTPError(.init(code: error.httpStatus), message: error.message)
                }
            }
            guard let header = outline.header, !outline.series.isEmpty else { throw HTTPError(.notFound, message: "no study \(study)") }
            return ["study": study, "series": outline.series.map(\.values), "header": header.values,
                    "title": header.patientName ?? header.patientID]
        }
        page(router, "/similar", "similar", title: "Similar images")
        page(router, "/review", "review", title: "Anomaly review")
        page(router, "/ward", "ward", title: "Flush watch", imports: ["flush"])
        page(router, "/ward/:patient", "episode", title: "Flush episode", imports: ["flush"]) { ["patient": try $0.parameters.decoded("patient")] }
        page(router, "/lesion", "lesion", title: "Lesion check")
        page(router, "/patients/:id", "patient", title: "Patient") { ["patient": try $0.parameters.decoded("id")] }
        page(router, "/admin", "admin", title: "Administration")
        router.get("/static/**") { _, context in try asset(context.parameters.getCatchAll()) }
    }

    /// A page: the layout around the named template, for the signed-in identity. `imports`: the
    /// modules its script imports besides api.js, fetched at once beside it (modulepreload) rather
    /// than after it.
    private func page(_ router: Router<LoupeRequestContext>, _ path: RouterPath, _ name: String, title: String, imports: [String] = [],
                      values: @escaping @Sendable (LoupeRequestContext) async throws -> [String: Any] = { _ in [:] }) {
        let library = self.library, root = self.root
        router.get(path) { _, context in
            guard let identity = context.identity else { throw HTTPError(.unauthorized) }
            var page = Navigation(identity).values
            page["title"] = title
            page["root"] = root
            page["page"] = name
            page["preload"] = ["api"] + imports
            page["user"] = identity.name
            page["phi"] = identity.may(.phi)
            page["identifying"] = PatientPrivacy.identifyingKeys.sorted().joined(separator: " ")
            page["csrf"] = identity.csrfToken ?? ""
            page.merge(try await values(context)) { $1 }
            guard let body = library.render(page, withTemplate: name) else { throw HTTPError(.internalServerError, message: "no page \(name)") }
            return Self.html(body)
        }
    }

    /// Pages load nothing from elsewhere and run no inline script.
    static let contentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        + "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPField.Name("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static let mediaTypes = ["css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
                             "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon"]

    /// A file of Static/: names of letters, digits, `.`, `-` and `_` only (no way up the tree).
    private func asset(_ components: [Substring]) throws -> Response {
        guard !components.isEmpty, components.allSatisfy({ part in
            !part.hasPrefix(".") && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        }), let type = components.last?.split(separator: ".").last.flatMap({ Self.mediaTypes[String($0)] }) else {
            throw HTTPError(.notFound, message: "no such asset")
        }
        let file = components.reduce(assets) { $0.appendingPathComponent(String($1)) }
        guard let data = FileManager.default.contents(atPath: file.path) else { throw HTTPError(.notFound, message: "no such asset") }
        var headers: HTTPFields = [.contentType: type, .cacheControl: "no-cache"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func templates(in directory: URL) throws -> [String: MustacheTemplate] {
        var templates: [String: MustacheTemplate] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".mustache") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            templates[String(file.dropLast(".mustache".count))] = try MustacheTemplate(string: text)
        }
        return templates
    }
}

/// What the navigation offers the identity (what it may not use is not shown; the server refuses it anyway).
struct Navigation {
    let values: [String: Any]

    init(_ identity: Identity) {
        values = [
            "canSearch": identity.may(.search) || identity.may(.readPhotos),
            "canSimilar": identity.may(.similar),
            "canReview": identity.may(.reviewFindings),
            "canWard": identity.may(.events("flush")),
            "canLesion": identity.may(.photos),
            "isAdmin": identity.may(.admin),
        ]
    }
}

public struct WebScreensError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
