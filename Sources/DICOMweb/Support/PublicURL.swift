import Hummingbird

/// The absolute URL of the DICOMweb root as clients reach it: the configured base URL, else built
/// from the request (`X-Forwarded-Proto`/`X-Forwarded-Host` behind a proxy, else `Host`).
struct PublicURL: Sendable {
    let root: String

    init(root: String) { self.root = root }

    init(request: Request, configured: String?, rootPath: String) {
        if let configured, !configured.isEmpty {
            root = configured.hasSuffix("/") ? String(configured.dropLast()) : configured
            return
        }
        let scheme = request.headers[.init("X-Forwarded-Proto")!] ?? "http"
        let host = request.headers[.init("X-Forwarded-Host")!] ?? request.head.authority ?? "localhost"
        root = "\(scheme)://\(host)\(rootPath)"
    }

    func study(_ uid: String) -> String { "\(root)/studies/\(uid)" }
    func series(_ studyUID: String, _ seriesUID: String) -> String { "\(study(studyUID))/series/\(seriesUID)" }
    func instance(_ studyUID: String, _ seriesUID: String, _ uid: String) -> String { "\(series(studyUID, seriesUID))/instances/\(uid)" }
}
