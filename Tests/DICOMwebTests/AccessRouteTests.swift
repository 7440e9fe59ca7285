import Access
import Archive
@testable import DICOMweb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LoupeTestSupport
import Testing

/// Access control over every route: the route table against the router, the full role matrix,
/// credentials of every kind (and broken ones), sessions with CSRF, patient limits, PHI and the
/// audit trail.
@Suite struct AccessRouteTests {
    let fixture: WebFixture
    /// A token per built-in role, and one of a role with no permission at all.
    let tokens: [String: String]
    static let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .tokenChanged)

    init() throws {
        fixture = try WebFixture(corsOrigins: ["https://viewer.example"])
        var tokens: [String: String] = [:]
        for role in Role.builtIn.map(\.name) where role != "admin" {
            tokens[role] = try fixture.access.createToken(name: "t-\(role)", roles: [role], actor: Self.actor).secret
        }
        tokens["admin"] = fixture.adminToken
        // A role the configuration could define with nothing in it.
        let none = AccessControl(archive: fixture.store.archive, configuration: AccessConfiguration(roles: try RoleCatalog(definitions: ["nobody": []])))
        tokens["nobody"] = try none.createToken(name: "t-nobody", roles: ["nobody"], actor: Self.actor).secret
        self.tokens = tokens
    }

    /// The router's routes with sample values in their parameters.
    func routes() throws -> [(method: HTTPRequest.Method, pattern: String, uri: String)] {
        let samples = ["{study}": "1.2.3", "{series}": "1.2.4", "{instance}": "1.2.5", "{frames}": "1", "{uid}": "1.2.5",
                       "{name}": "1.2.5.png", "{id}": "P1", "{patient}": "P1", "{seq}": "1", "**": "x"]
        return try fixture.router().routes.map { route in
            let pattern = route.path.description
            var uri = pattern
            for (parameter, value) in samples { uri = uri.replacingOccurrences(of: parameter, with: value) }
            return (route.method, pattern, uri)
        }
    }

    @Test func everyRouteDeclaresWhatItNeeds() throws {
        let declared = Set(AccessTable.http.keys)
        let served = Set(try routes().map { "\($0.method) \($0.pattern)" })
        #expect(served.subtracting(declared).isEmpty, "routes without a declared permission: \(served.subtracting(declared).sorted())")
        #expect(declared.subtracting(served).isEmpty, "declared routes that no longer exist: \(declared.subtracting(served).sorted())")
        let open = AccessTable.http.filter { $0.value == .open }.keys.sorted()
        #expect(open == ["GET /healthz", "GET /login", "GET /readyz", "GET /static/**", "POST /login"])
    }

    @Test func noRouteAnswersWithoutCredentials() async throws {
        let routes = try self.routes()
        try await fixture.test(token: .some(nil)) { client in
            for route in routes {
                let response = try await client.execute(uri: route.uri, method: route.method)
                if AccessTable.http["\(route.method) \(route.pattern)"] == .open {
                    #expect(response.status != .unauthorized, "\(route.method) \(route.pattern)")
                } else {
                    #expect(response.status == .unauthorized, "\(route.method) \(route.pattern) answered \(response.status) without credentials")
                    #expect(response.headers[.wwwAuthenticate]?.contains("Bearer") == true)
                }
            }
            // Paths that no route serves say nothing more to strangers.
            #expect(try await client.execute(uri: "/no/such/path", method: .get).status == .unauthorized)
        }
    }

    @Test func everyRoleReachesExactlyWhatItsPermissionsAllow() async throws {
        let routes = try self.routes()
        let roles = try RoleCatalog(definitions: ["nobody": []])
        for (role, token) in tokens.sorted(by: { $0.key < $1.key }) {
            let identity = Identity(name: role, kind: .token, roles: [role], permissions: try roles.permissions(of: [role]))
            try await fixture.test(token: token) { client in
                for route in routes {
                    let requirement = try #require(AccessTable.http["\(route.method) \(route.pattern)"])
                    let allowed = requirement.isMet(by: identity)
                    // An allowed subscription would stream for ever; its refusals are checked below.
                    if allowed && route.pattern == "/api/events" { continue }
                    let response = try await client.execute(uri: route.uri, method: route.method)
                    if allowed {
                        // Past the table; a role limited to photographs may still be refused these sample
                        // resources, which are none (tested on their own).
                        let photosOnly = identity.readsPhotosOnly && response.text.contains("may read clinical photographs only")
                        #expect(response.status != .unauthorized && (response.status != .forbidden || photosOnly),
                                "\(role): \(route.method) \(route.pattern) refused (\(response.status)): \(response.text)")
                    } else {
                        #expect(response.status == .forbidden, "\(role): \(route.method) \(route.pattern) answered \(response.status)")
                        #expect(response.text.contains("needs the permission \(requirement)"))
                    }
                }
            }
        }
    }

    @Test func brokenAndWrongCredentialsAreRefusedWithAReason() async throws {
        let cases: [(String, String)] = [
            ("Basic !!!not-base64", "malformed Basic credentials"),
            ("Basic \(Data("no-colon".utf8).base64EncodedString())", "malformed Basic credentials"),
            ("Bearer", "malformed Bearer credentials"),
            ("Bearer two words", "malformed Bearer credentials"),
            ("Digest username=x", "scheme 'Digest' is not supported"),
            ("Bearer loupe_\(Secret.generate())", "unknown API token"),
            ("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "no OpenID Connect issuer is configured"),
            ("Basic \(Data("admin:wrong-password".utf8).base64EncodedString())", "wrong user name or password"),
        ]
        try await fixture.test(token: .some(nil)) { client in
            for (header, reason) in cases {
                let response = try await client.execute(uri: "/dicom-web/studies", method: .get, headers: [.authorization: header])
                #expect(response.status == .unauthorized, "\(header)")
                #expect(response.text.contains(reason), "\(header): \(response.text)")
            }
        }
    }

    @Test func basicCredentialsOfAUserWork() async throws {
        try fixture.access.addUser(name: "dr", password: "radiology-pw", roles: ["radiologist"], actor: Self.actor)
        let basic = "Basic " + Data("dr:radiology-pw".utf8).base64EncodedString()
        try await fixture.test(token: .some(nil)) { client in
            let studies = try await client.execute(uri: "/dicom-web/studies", method: .get, headers: [.authorization: basic])
            let total = try fixture.store.archive.statistics().studies
            #expect(studies.status == .ok && studies.objects.count == total)
            let audit = try await client.execute(uri: "/api/audit", method: .get, headers: [.authorization: basic])
            #expect(audit.status == .forbidden)
        }
    }

    @Test func aSessionNeedsItsCSRFTokenToChangeAnything() async throws {
        try fixture.access.addUser(name: "nurse", password: "ward-7-pass", roles: ["nurse"], actor: Self.actor)
        try await fixture.test(token: .some(nil)) { client in
            let login = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"user":"nurse","password":"ward-7-pass"}"#))
            #expect(login.status == .ok)
            let setCookie = try #require(login.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"))
            #expect(!setCookie.contains("Secure"))  // plain HTTP here; Secure under HTTPS
            let cookie = String(setCookie.split(separator: ";")[0])
            let csrf = try #require((login.json as? [String: Any])?["csrfToken"] as? String)

            let me = try await client.execute(uri: "/api/session", method: .get, headers: [.cookie: cookie])
            #expect((me.json as? [String: Any])?["user"] as? String == "nurse")
            let refused = try await client.execute(uri: "/api/alerts/1/acknowledge", method: .post, headers: [.cookie: cookie])
            #expect(refused.status == .forbidden && refused.text.contains("CSRF"))
            var headers: HTTPFields = [.cookie: cookie]
            headers[HTTPField.Name("X-CSRF-Token")!] = csrf
            let passed = try await client.execute(uri: "/api/alerts/1/acknowledge", method: .post, headers: headers)
            #expect(passed.status == .notFound)  // through the gate; there is no such alert
            // A form post carries the token as a field.
            let form: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
            let logout = try await client.execute(uri: "/logout", method: .post, headers: form, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(logout.status == .seeOther && logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await client.execute(uri: "/api/session", method: .get, headers: [.cookie: cookie]).status == .unauthorized)
        }
    }

    @Test func theLoginFormWorksWithoutScriptAndEscapesWhatItShows() async throws {
        try fixture.access.addUser(name: "clin", password: "clinic-pass", roles: ["clinician"], actor: Self.actor)
        try await fixture.test(token: .some(nil)) { client in
            let page = try await client.execute(uri: "/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", method: .get)
            #expect(page.status == .ok && page.text.contains("<form method=\"post\"") && !page.text.contains("<script"))
            #expect(page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'self'") == true)
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let wrong = try await client.execute(uri: "/login", method: .post, headers: form,
                                                 body: ByteBuffer(string: "user=clin&password=%3Cb%3Enope&next=/studies"))
            #expect(wrong.status == .unauthorized && wrong.text.contains("wrong user name or password") && !wrong.text.contains("<b>"))
            let right = try await client.execute(uri: "/login", method: .post, headers: form,
                                                 body: ByteBuffer(string: "user=clin&password=clinic-pass&next=//evil.example/"))
            #expect(right.status == .seeOther && right.headers[.location] == "/")  // never off-site
            let next = try await client.execute(uri: "/login", method: .post, headers: form,
                                                body: ByteBuffer(string: "user=clin&password=clinic-pass&next=/dicom-web/studies"))
            #expect(next.headers[.location] == "/dicom-web/studies")
        }
    }

    @Test func anAnonymousRoleServesRequestsWithoutCredentialsAsThatRole() async throws {
        let store = fixture.store
        let access = AccessControl(archive: store.archive,
                                   configuration: AccessConfiguration(roles: try RoleCatalog(), anonymousRole: "researcher"))
        let service = DICOMwebService(archive: store.archive, access: access, configuration: DICOMwebConfiguration())
        try await Application(router: service.router()).test(.router) { client in
            let studies = try await client.execute(uri: "/dicom-web/studies", method: .get)
            #expect(studies.status == .ok && studies.objects.allSatisfy { $0[Tag.patientName.hex] == nil })
            #expect(try await client.execute(uri: "/api/audit", method: .get).status == .forbidden)
            // Credentials that are given are still checked.
            let wrong = try await client.execute(uri: "/dicom-web/studies", method: .get, headers: [.authorization: "Bearer loupe_nope"])
            #expect(wrong.status == .unauthorized)
        }
        access.auditLog.flush()
        let trail = try store.archive.audit(AuditFilter(actor: "anonymous"))
        #expect(trail.map(\.action) == [.query, .accessDenied] && trail.allSatisfy { $0.actorKind == .anonymous })
    }

    @Test func crossSiteWritesAreRefused() async throws {
        try await fixture.test { client in
            var headers: HTTPFields = [.origin: "https://evil.example", .contentType: "multipart/related; type=\"application/dicom\"; boundary=x"]
            let refused = try await client.execute(uri: "/dicom-web/studies", method: .post, headers: headers, body: ByteBuffer(string: "--x--"))
            #expect(refused.status == .forbidden && refused.text.contains("cross-origin"))
            headers[.origin] = "https://viewer.example"  // a configured CORS origin
            let allowed = try await client.execute(uri: "/dicom-web/studies", method: .post, headers: headers, body: ByteBuffer(string: "--x--"))
            #expect(allowed.status != .forbidden)
        }
    }

    @Test func withoutPHIResultsNameNoPatient() async throws {
        let f = fixture
        try await fixture.test(token: tokens["researcher"]) { client in
            let studies = try await client.execute(uri: "/dicom-web/studies?includefield=all", method: .get)
            let total = try f.store.archive.statistics().studies
            #expect(studies.status == .ok && studies.objects.count == total)
            #expect(studies.objects.allSatisfy { $0[Tag.patientName.hex] == nil && $0[Tag.patientBirthDate.hex] == nil })
            #expect(studies.objects.allSatisfy { $0[Tag.patientID.hex] != nil })
            let instances = try await client.execute(uri: "/dicom-web/instances?includefield=all", method: .get)
            #expect(instances.objects.count == 6 && instances.objects.allSatisfy { $0[Tag.patientName.hex] == nil })
            let byName = try await client.execute(uri: "/dicom-web/studies?PatientName=DOE*", method: .get)
            #expect(byName.status == .forbidden && byName.text.contains("PatientName needs the phi permission"))
            let patient = try await client.execute(uri: "/api/patients/WEB1", method: .get)
            #expect(patient.status == .ok && (patient.json as? [String: Any])?["PatientName"] == nil)
        }
        try await fixture.test(token: tokens["radiologist"]) { client in
            let byName = try await client.execute(uri: "/dicom-web/studies?PatientName=DOE*", method: .get)
            #expect(byName.status == .ok && byName.objects.count == 1)
            #expect(value(byName.objects[0], .patientName) != nil)
        }
    }

    @Test func aTokenLimitedToAPatientReachesOnlyThatPatient() async throws {
        let f = fixture
        let (_, secret) = try fixture.access.createToken(name: "ward-reader", roles: ["clinician"], patients: ["WEB1"], actor: Self.actor)
        try await fixture.test(token: secret) { client in
            let studies = try await client.execute(uri: "/dicom-web/studies", method: .get)
            #expect(studies.status == .ok && studies.objects.count == 1)
            #expect(studies.objects.allSatisfy { value($0, .patientID) as? String == "WEB1" })
            #expect(try await client.execute(uri: "/dicom-web/studies?PatientID=WEB2", method: .get).status == .forbidden)
            #expect(try await client.execute(uri: "/dicom-web/studies/\(f.a1.studyUID)/metadata", method: .get).status == .ok)
            let other = try await client.execute(uri: "/dicom-web/studies/\(f.b1.studyUID)/metadata", method: .get)
            #expect(other.status == .forbidden && other.text.contains("limited to other patients"))
            #expect(try await client.execute(uri: "/api/patients/WEB2", method: .get).status == .forbidden)
            #expect(try await client.execute(uri: "/wado?requestType=WADO&studyUID=\(f.b1.studyUID)&seriesUID=\(f.b1.seriesUID)&objectUID=\(f.b1.sopUID)",
                                             method: .get).status == .forbidden)
        }
    }

    @Test func queryParametersNeitherWidenALimitNorFalsifyTheTrail() async throws {
        let f = fixture
        let (_, secret) = try fixture.access.createToken(name: "limited-reader", roles: ["clinician"], patients: ["WEB1"], actor: Self.actor)
        try await fixture.test(token: secret) { client in
            let b = "/dicom-web/studies/\(f.b1.studyUID)/series/\(f.b1.seriesUID)/instances/\(f.b1.sopUID)"
            for uri in ["/dicom-web/studies/\(f.b1.studyUID)/metadata?PatientID=WEB1", "\(b)/rendered?studyUID=\(f.a1.studyUID)",
                        "/api/instances/\(f.b1.sopUID)/analysis?studyUID=\(f.a1.studyUID)&PatientID=WEB1",
                        "/dicom-web/studies/\(f.a1.studyUID)/series/\(f.a1.seriesUID)/instances/\(f.b1.sopUID)/metadata"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .forbidden, "\(uri)")
            }
        }
        try await fixture.test { client in
            _ = try await client.execute(uri: "/dicom-web/studies/\(f.a1.studyUID)/metadata?PatientID=WEB2", method: .get)
        }
        fixture.access.auditLog.flush()
        let retrieves = try fixture.store.archive.audit(AuditFilter(action: .retrieve))
        #expect(retrieves.last?.patientID == "WEB1")  // from the index, not from the request
    }

    @Test func aLimitedWriterCannotJoinOrReplaceAnotherPatientsData() async throws {
        let f = fixture
        let (_, secret) = try fixture.access.createToken(name: "limited-modality", roles: ["modality"], patients: ["WEB1"], actor: Self.actor)
        var moved = Instance(patientID: "WEB1", studyDate: "20240301")
        moved.studyUID = f.b1.studyUID  // WEB2's study
        let intruder = moved
        let own = Instance(patientID: "WEB1", studyDate: "20240302")
        let fresh = own.studyUID
        try await fixture.test(token: secret) { client in
            let (headers, body) = StoreTests.body([intruder.bytes])
            let refused = try await client.execute(uri: "/dicom-web/studies", method: .post, headers: headers, body: body)
            #expect(refused.status == .forbidden)
            let (ownHeaders, ownBody) = StoreTests.body([own.bytes])
            let stored = try await client.execute(uri: "/dicom-web/studies/\(fresh)", method: .post, headers: ownHeaders, body: ownBody)
            #expect(stored.status == .ok)  // a study that does not exist yet is no other patient's
        }
        #expect(try fixture.store.archive.instance(sopInstanceUID: intruder.sopUID) == nil)
        #expect(try fixture.store.archive.instance(sopInstanceUID: own.sopUID) != nil)
    }

    @Test func aNurseReadsClinicalPhotographsOnly() async throws {
        let f = fixture
        let photo = Instance(patientID: "WEB1", studyDate: "20240401", studyDescription: "Clinical photographs", modality: "XC")
        try fixture.store.store(photo.bytes)
        // A photo filed into the CT study.
        try fixture.store.store(Instance(patientID: "WEB1", studyUID: f.a1.studyUID, studyDate: "20240401", modality: "XC").bytes)
        let photoPath = "/dicom-web/studies/\(photo.studyUID)/series/\(photo.seriesUID)/instances/\(photo.sopUID)"
        try await fixture.test(token: tokens["nurse"]) { client in
            let studies = try await client.execute(uri: "/dicom-web/studies", method: .get)
            #expect(Set(studies.objects.compactMap { value($0, .studyInstanceUID) as? String }) == Set([photo.studyUID, f.a1.studyUID]))
            let series = try await client.execute(uri: "/dicom-web/studies/\(f.a1.studyUID)/series", method: .get)
            #expect(series.objects.map { value($0, .modality) as? String } == ["XC"])  // not the study's CT series
            #expect(try await client.execute(uri: "/dicom-web/series?Modality=CT", method: .get).status == .forbidden)
            #expect(try await client.execute(uri: "\(photoPath)/metadata", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/api/instances/\(photo.sopUID)/analysis", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/dicom-web/studies/\(photo.studyUID)", method: .get).status == .ok)
            // The CT images, and the study that holds them beside a photo, are not the nurse's.
            #expect(try await client.execute(uri: "/api/instances/\(f.a1.sopUID)/analysis", method: .get).status == .forbidden)
            #expect(try await client.execute(uri: "/dicom-web/studies/\(f.a1.studyUID)/metadata", method: .get).status == .forbidden)
            #expect(try await client.execute(uri: "/dicom-web/studies/\(f.b1.studyUID)/series/\(f.b1.seriesUID)/metadata",
                                             method: .get).status == .forbidden)
            // A patient without photographs does not exist for the nurse; one with some shows their counts only.
            #expect(try await client.execute(uri: "/api/patients/WEB2", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/api/patients/WEB2/counts", method: .get).status == .notFound)
            let patient = try #require(try await client.execute(uri: "/api/patients/WEB1", method: .get).json as? [String: Any])
            let shown = try #require(patient["Studies"] as? [[String: Any]])
            #expect(Set(shown.compactMap { $0["StudyInstanceUID"] as? String }) == Set([photo.studyUID, f.a1.studyUID]))
            #expect(patient["NumberOfPatientRelatedStudies"] as? Int == 2)
            #expect(patient["NumberOfPatientRelatedInstances"] as? Int == shown.compactMap { $0["NumberOfStudyRelatedInstances"] as? Int }.reduce(0, +))
        }
    }

    @Test func withoutPHIResultsAreNotOrderedByWhatIdentifiesAPatient() async throws {
        try await fixture.test(token: tokens["researcher"]) { client in
            for key in ["PatientName", "-PatientBirthDate"] {
                let refused = try await client.execute(uri: "/dicom-web/studies?loupe-orderby=\(key)", method: .get)
                #expect(refused.status == .forbidden && refused.text.contains("needs the phi permission"), "\(key)")
            }
            #expect(try await client.execute(uri: "/dicom-web/studies?loupe-orderby=-StudyDate", method: .get).status == .ok)
        }
        try await fixture.test(token: tokens["radiologist"]) { client in
            let ordered = try await client.execute(uri: "/dicom-web/studies?loupe-orderby=PatientName", method: .get)
            #expect(ordered.status == .ok)
        }
    }

    @Test func aPatientIDWithReservedCharactersIsFoundByItsEncodedPath() async throws {
        let odd = Instance(patientID: "AB 12/3", studyDate: "20240501")
        try fixture.store.store(odd.bytes)
        let (_, limited) = try fixture.access.createToken(name: "bed-odd", roles: ["clinician"], patients: ["AB 12/3"], actor: Self.actor)
        for token in [fixture.adminToken, limited] {
            try await fixture.test(token: token) { client in
                let detail = try await client.execute(uri: "/api/patients/AB%2012%2F3", method: .get)
                #expect(detail.status == .ok && (detail.json as? [String: Any])?["PatientID"] as? String == "AB 12/3", "\(detail.text)")
                #expect(detail.headers[.cacheControl] == "no-store")  // patient data stays out of a kiosk's cache
                let page = try await client.execute(uri: "/patients/AB%2012%2F3", method: .get, headers: [.accept: "text/html"])
                #expect(page.text.contains(#"data-patient="AB 12/3""#))
            }
        }
    }

    @Test func theStudyPageIsAuditedAsARead() async throws {
        let f = fixture
        try await fixture.test(token: tokens["radiologist"]) { client in
            let study = try await client.execute(uri: "/studies/\(f.b1.studyUID)", method: .get, headers: [.accept: "text/html"])
            let similar = try await client.execute(uri: "/similar", method: .get, headers: [.accept: "text/html"])
            #expect(study.status == .ok && similar.status == .ok)
        }
        fixture.access.auditLog.flush()
        let reads = try fixture.store.archive.audit(AuditFilter(actor: "t-radiologist"))
        #expect(reads.map(\.action) == [.retrieve] && reads.first?.studyInstanceUID == f.b1.studyUID && reads.first?.patientID == "WEB2")
    }

    @Test func readsAndRefusalsAreInTheAuditTrail() async throws {
        let f = fixture
        try await fixture.test(token: tokens["radiologist"]) { client in
            _ = try await client.execute(uri: "/dicom-web/studies?PatientID=WEB2", method: .get)
            _ = try await client.execute(uri: "/dicom-web/studies/\(f.b1.studyUID)/series/\(f.b1.seriesUID)/metadata", method: .get)
            _ = try await client.execute(uri: "/api/audit", method: .get)  // refused: not an admin
        }
        try await fixture.test { client in
            let radiologist = try await client.execute(uri: "/api/audit?user=t-radiologist", method: .get)
            let entries = radiologist.objects
            #expect(entries.map { $0["action"] as? String } == ["query", "retrieve", "access-denied"])
            #expect(entries[0]["patientID"] as? String == "WEB2" && (entries[0]["detail"] as? String)?.contains("PatientID=WEB2") == true)
            #expect(entries[1]["studyInstanceUID"] as? String == f.b1.studyUID && entries[1]["seriesInstanceUID"] as? String == f.b1.seriesUID)
            #expect(entries[1]["patientID"] as? String == "WEB2")  // from the index
            #expect(entries[2]["outcome"] as? String == "failure" && entries[0]["actorKind"] as? String == "token")
            let byPatient = try await client.execute(uri: "/api/audit?patient=WEB2&action=retrieve", method: .get)
            #expect(byPatient.objects.count == 1)
            #expect(try await client.execute(uri: "/api/audit?action=dance", method: .get).status == .badRequest)
            #expect(try await client.execute(uri: "/api/audit?from=yesterday", method: .get).status == .badRequest)
        }
    }
}
