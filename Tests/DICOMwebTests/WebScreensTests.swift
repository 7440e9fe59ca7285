import Access
import Archive
@testable import DICOMweb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import Web

/// The screens as HTTP: pages behind the login with a strict CSP, navigation by role, the assets and
/// their module imports, a public path prefix. (What they do in a browser: conformance/test_web.py.)
@Suite struct WebScreensTests {
    let fixture: WebFixture
    init() throws { fixture = try WebFixture() }

    var pages: [String: String] {
        ["/": "studies", "/studies/\(fixture.a1.studyUID)": "study", "/similar": "similar", "/review": "review", "/ward": "ward",
         "/ward/P1": "episode", "/lesion": "lesion", "/patients/P1": "patient", "/admin": "admin"]
    }
    static let html: HTTPFields = [.accept: "text/html,application/xhtml+xml"]

    @Test func everyScreenIsAPageWithAStrictPolicyBehindTheLogin() async throws {
        let pages = self.pages
        try await fixture.test { client in
            for (path, name) in pages {
                let page = try await client.execute(uri: path, method: .get, headers: Self.html)
                #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8", "\(path)")
                let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
                #expect(policy.hasPrefix("default-src 'self'") && policy.contains("script-src 'self'") && !policy.contains("unsafe"))
                #expect(page.text.contains(#"<script type="module" src="/static/js/\#(name).js"></script>"#), "\(path)")
                #expect(!page.text.contains("<script>") && !page.text.contains("onclick="), "no inline script in \(path)")
                #expect(page.text.contains(#"<a class="brand" href="/">Loupe</a>"#))
                // What the page's module imports is fetched beside it, not after it.
                let script = try await client.execute(uri: "/static/js/\(name).js", method: .get).text
                let imports = Set(script.matches(of: /from "\.\/([a-z]+)\.js"/).map { String($0.1) })
                let preloaded = Set(page.text.matches(of: /<link rel="modulepreload" href="\/static\/js\/([a-z]+)\.js">/).map { String($0.1) })
                #expect(imports == preloaded, "\(path): imports \(imports.sorted()), preloads \(preloaded.sorted())")
            }
        }
        // Pages hold no patient data but the study page: the trail records the requests for data
        // the others make, not them.
        fixture.access.auditLog.flush()
        let trail = try fixture.store.archive.audit(AuditFilter())
        let audited = Set(pages.keys.filter { path in trail.contains { $0.detail == "GET \(path)" } })
        #expect(audited == ["/studies/\(fixture.a1.studyUID)"], "\(trail.compactMap(\.detail))")
        try await fixture.test(token: .some(nil)) { client in
            for path in pages.keys {
                let page = try await client.execute(uri: path, method: .get, headers: Self.html)
                #expect(page.status == .seeOther, "\(path)")
                let next = path.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? path
                #expect(page.headers[.location] == "/login?next=\(next)", "\(path)")
                // A script asking for data gets the 401 it can act on.
                #expect(try await client.execute(uri: path, method: .get).status == .unauthorized)
            }
        }
    }

    @Test func theStudyPageListsItsSeriesWithTheirFirstImage() async throws {
        let f = fixture
        try await fixture.test { client in
            let page = try await client.execute(uri: "/studies/\(f.a1.studyUID)", method: .get, headers: Self.html)
            #expect(page.text.contains(#"data-series="\#(f.a1.seriesUID)" data-first="\#(f.a1.sopUID)" data-modality="CT""#), "\(page.text)")
            #expect(page.text.contains(#"src="/dicom-web/studies/\#(f.a1.studyUID)/series/\#(f.a1.seriesUID)/thumbnail""#))
            #expect(page.text.contains("<span class=\"muted\">2 images</span>"))
            #expect(page.text.contains("<h1 id=\"study-title\">CHEST, PA</h1>"))
            #expect(page.text.contains(#"<a href="/patients/WEB1">Müller^Jörg</a> · WEB1 · 2023-01-15 · CT · accession A1"#), "\(page.text)")
            #expect(page.text.contains("<title>Müller^Jörg · Loupe</title>"))
            let unknown = try await client.execute(uri: "/studies/1.2.3.4", method: .get, headers: Self.html)
            #expect(unknown.status == .notFound)
        }
    }

    @Test func theStudyPageNamesThePatientOnlyToReadersWithPHI() async throws {
        let f = fixture
        let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .tokenChanged)
        let researcher = try fixture.access.createToken(name: "notebook", roles: ["researcher"], actor: actor).secret
        try await fixture.test(token: researcher) { client in
            let page = try await client.execute(uri: "/studies/\(f.a1.studyUID)", method: .get, headers: Self.html)
            #expect(page.status == .ok)
            #expect(!page.text.contains("Müller") && page.text.contains(#"<a href="/patients/WEB1">WEB1</a> · WEB1"#), "\(page.text)")
            #expect(page.text.contains("<title>WEB1 · Loupe</title>"))
            // The viewer's tag table leaves out what the header does.
            #expect(page.text.contains(#"<meta name="loupe-phi" content="no">"#))
            #expect(page.text.contains(#"<meta name="loupe-identifying" content="00100010 00100030"#))
        }
    }

    @Test func theNavigationOffersWhatTheRoleMayUse() async throws {
        let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .tokenChanged)
        let nurse = try fixture.access.createToken(name: "ward-7", roles: ["nurse"], actor: actor).secret
        try await fixture.test(token: nurse) { client in
            let ward = try await client.execute(uri: "/ward", method: .get, headers: Self.html)
            #expect(ward.status == .ok && ward.text.contains(#"href="/ward">Flush watch</a>"#) && ward.text.contains(#"href="/lesion">"#))
            #expect(!ward.text.contains(#"href="/admin""#) && !ward.text.contains(#"href="/review""#) && !ward.text.contains(#"href="/similar""#))
            let admin = try await client.execute(uri: "/admin", method: .get, headers: Self.html)
            #expect(admin.status == .forbidden && admin.text.contains("needs the permission admin"))
        }
        try await fixture.test { client in
            let page = try await client.execute(uri: "/", method: .get, headers: Self.html)
            for screen in ["/similar", "/review", "/ward", "/lesion", "/admin"] { #expect(page.text.contains(#"href="\#(screen)""#)) }
        }
    }

    @Test func assetsAreServedAndStayInTheirDirectory() async throws {
        try await fixture.test(token: .some(nil)) { client in
            let css = try await client.execute(uri: "/static/loupe.css", method: .get)
            #expect(css.status == .ok && css.headers[.contentType] == "text/css; charset=utf-8" && css.text.contains(":root"))
            #expect(css.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            for path in ["/static/../Package.swift", "/static/js/..%2f..%2fWebScreens.swift", "/static/.hidden", "/static/js/nope.js",
                         "/static/js", "/static/Templates/layout.mustache", "/static/loupe.css.swift"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound || response.status == .unauthorized, "\(path): \(response.status)")
                #expect(!response.text.contains("import "), "\(path)")
            }
            // Every module a page loads, and every module they import, is there.
            var pending = Set(pages.values.map { "js/\($0).js" }), seen = Set<String>()
            while let module = pending.popFirst() {
                seen.insert(module)
                let script = try await client.execute(uri: "/static/\(module)", method: .get)
                #expect(script.status == .ok && script.headers[.contentType] == "text/javascript; charset=utf-8", "\(module)")
                for match in script.text.matches(of: /from "\.\/([a-z]+\.js)"/) {
                    let imported = "js/\(match.1)"
                    if !seen.contains(imported) { pending.insert(imported) }
                }
            }
            #expect(seen.contains("js/api.js") && seen.contains("js/viewer.js") && seen.contains("js/flush.js"))
        }
    }

    @Test func pagesLiveUnderThePublicPathOfABaseURL() async throws {
        let service = DICOMwebService(archive: fixture.store.archive, access: fixture.access,
                                      configuration: DICOMwebConfiguration(baseURL: "https://pacs.example/loupe/dicom-web"))
        #expect(service.rootPrefix == "/loupe")
        let slashed = DICOMwebService(archive: fixture.store.archive, access: fixture.access,
                                      configuration: DICOMwebConfiguration(baseURL: "https://pacs.example/loupe/dicom-web/"))
        #expect(slashed.rootPrefix == "/loupe")
        let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .userChanged)
        try fixture.access.addUser(name: "proxied", password: "proxied-pass-1", roles: ["radiologist"], actor: actor)
        let router = service.router()
        try WebScreens(root: service.rootPrefix, archive: fixture.store.archive).addRoutes(to: router)
        try await Application(router: router).test(.router) { client in
            let page = try await client.execute(uri: "/", method: .get, headers: [.accept: "text/html", .authorization: "Bearer \(fixture.adminToken)"])
            #expect(page.text.contains(#"<meta name="loupe-root" content="/loupe">"#))
            #expect(page.text.contains(#"src="/loupe/static/js/studies.js""#) && page.text.contains(#"href="/loupe/static/loupe.css""#))
            // Back to the public path after logging in (the proxy passes /loupe/review on as /review).
            let login = try await client.execute(uri: "/review", method: .get, headers: [.accept: "text/html"])
            #expect(login.headers[.location] == "/loupe/login?next=/loupe/review")
            let form = try await client.execute(uri: "/login?next=//evil.example/", method: .get)
            #expect(form.text.contains(#"name="next" value="/loupe/""#))
            // The session cookie is for the node's public path only.
            let session = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"user":"proxied","password":"proxied-pass-1"}"#))
            let attributes = session.headers[.setCookie]?.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
            #expect(session.status == .ok && attributes.contains("Path=/loupe"), "\(session.headers)")  // attributes in any order
        }
    }

    @Test func sessionPagesCarryTheCSRFTokenAndEscapeTheUserName() async throws {
        let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .userChanged)
        try fixture.access.addUser(name: "o'brien", password: "radiology-pass", roles: ["radiologist"], actor: actor)
        try await fixture.test(token: .some(nil)) { client in
            let login = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"user":"o'brien","password":"radiology-pass"}"#))
            let cookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
            let csrf = try #require((login.json as? [String: Any])?["csrfToken"] as? String)
            let page = try await client.execute(uri: "/review", method: .get, headers: [.cookie: cookie, .accept: "text/html"])
            #expect(page.text.contains(#"<meta name="csrf-token" content="\#(csrf)">"#))
            #expect(page.text.contains("o&#39;brien") && !page.text.contains("o'brien"))
        }
    }
}
