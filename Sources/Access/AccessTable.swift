/// What a request must prove before a route answers.
public enum Requirement: Sendable, Equatable, CustomStringConvertible {
    /// Anyone (the health and readiness checks and the login page only).
    case open
    /// Any authenticated identity (what it then sees is filtered by its permissions).
    case authenticated
    /// An identity holding this permission.
    case permission(Permission)
    /// An identity holding at least one of these.
    case anyOf([Permission])

    public func isMet(by identity: Identity) -> Bool {
        switch self {
        case .open, .authenticated: true
        case .permission(let permission): identity.may(permission)
        case .anyOf(let permissions): permissions.contains { identity.may($0) }
        }
    }

    public var description: String {
        switch self {
        case .open: "open"
        case .authenticated: "authenticated"
        case .permission(let permission): permission.rawValue
        case .anyOf(let permissions): permissions.map(\.rawValue).joined(separator: " or ")
        }
    }
}

/// Reading: everything, or clinical photographs only (the requests naming others are refused).
private let reading = Requirement.anyOf([.read, .readPhotos])
/// Searching: everything, or clinical photographs only (the searches are narrowed to them).
private let searching = Requirement.anyOf([.search, .readPhotos])

/// The one table of what each HTTP route needs, keyed by method and route pattern as the router
/// names them (`GET /dicom-web/studies/{study}`). A route missing here answers 403 to everyone, and a
/// test walks the router's routes against this table, so nothing is added open by accident.
public enum AccessTable {
    public static let http: [String: Requirement] = {
        var table: [String: Requirement] = [
            "GET /healthz": .open,
            "GET /readyz": .open,
            "GET /metrics": .permission(.metrics),
            "GET /login": .open,
            "POST /login": .open,
            "POST /logout": .authenticated,
            "GET /api/session": .authenticated,

            "GET /api/stats": .permission(.search),
            "GET /api/patients/{id}": searching,
            "GET /api/patients/{id}/counts": searching,
            "GET /api/instances/{uid}/analysis": reading,
            "GET /api/imageinfo/{name}": reading,
            "GET /api/derived/{name}": reading,
            "GET /api/similar": .permission(.similar),
            "POST /api/similar": .permission(.similar),
            "GET /api/events": .anyOf(Permission.eventTopics.map(Permission.events)),
            "POST /api/alerts/{seq}/acknowledge": .permission(.acknowledgeAlerts),
            "POST /api/photos": .permission(.photos),
            "GET /api/audit": .permission(.admin),
            "GET /api/findings": searching,
            "POST /api/findings/{uid}/review": .permission(.reviewFindings),
            "GET /api/ward": .permission(.events("flush")),
            "GET /api/derivations/failed": .permission(.admin),
            "POST /api/derivations/retry": .permission(.admin),
            "GET /api/peers": .permission(.admin),
            "POST /api/peers/{name}/echo": .permission(.admin),
            "GET /api/accounts": .permission(.admin),

            "POST /dicom-web/studies": .permission(.store),
            "POST /dicom-web/studies/{study}": .permission(.store),
            "GET /dicom-web/studies": searching,
            "GET /dicom-web/series": searching,
            "GET /dicom-web/instances": searching,
            "GET /dicom-web/studies/{study}/series": searching,
            "GET /dicom-web/studies/{study}/instances": searching,
            "GET /dicom-web/studies/{study}/series/{series}/instances": searching,
            "GET /wado": reading,
            "GET /dicom-web/wado": reading,
        ]
        table.merge(pages) { _, _ in preconditionFailure("a page and a route share a path") }
        let instance = "/dicom-web/studies/{study}/series/{series}/instances/{instance}"
        for level in ["/dicom-web/studies/{study}", "/dicom-web/studies/{study}/series/{series}", instance] {
            table["GET \(level)"] = reading
            table["GET \(level)/metadata"] = reading
        }
        for path in ["\(instance)/frames/{frames}", "\(instance)/bulkdata/**", "\(instance)/rendered", "\(instance)/thumbnail",
                     "\(instance)/frames/{frames}/rendered", "\(instance)/frames/{frames}/thumbnail",
                     "/dicom-web/studies/{study}/series/{series}/rendered", "/dicom-web/studies/{study}/series/{series}/thumbnail",
                     "/dicom-web/studies/{study}/thumbnail"] {
            table["GET \(path)"] = reading
        }
        return table
    }()

    /// The screens (Web), each needing what its data needs. Most pages hold no patient data
    /// themselves (their data comes from the routes above, which are audited), so they are not
    /// audited, nor are the assets; those in `pagesWithPatientData` are.
    public static let pages: [String: Requirement] = [
        "GET /": searching,
        "GET /studies/{study}": reading,
        "GET /similar": .permission(.similar),
        "GET /review": .permission(.reviewFindings),
        "GET /ward": .permission(.events("flush")),
        "GET /ward/{patient}": .permission(.events("flush")),
        "GET /lesion": .permission(.photos),
        "GET /patients/{id}": searching,
        "GET /admin": .permission(.admin),
        "GET /static/**": .open,
    ]

    /// Pages that show patient data themselves (the study page's header and series): audited as reads.
    public static let pagesWithPatientData: Set<String> = ["GET /studies/{study}"]

    /// Whether a route reads (or searches) patient data, and so admits an identity limited to clinical
    /// photographs for those only.
    public static func isReading(_ requirement: Requirement) -> Bool { requirement == reading }
    public static func isSearching(_ requirement: Requirement) -> Bool { requirement == searching }

    /// The requirement of a route (`GET`, `/dicom-web/studies`); nil for a route the table lacks.
    public static func requirement(method: String, route: String) -> Requirement? {
        http["\(method) \(route)"]
    }
}

/// The DIMSE services a calling AE title can be granted (`dimse.allowed_callers[].services`); once
/// any caller is configured, an AE may use only what its entry lists.
public enum DIMSEService: String, Sendable, CaseIterable, Codable {
    case echo, store, find, move, get
}
