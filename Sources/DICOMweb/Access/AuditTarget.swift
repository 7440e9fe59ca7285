import Access
import Hummingbird

/// The patient data a request names, from its route's own parameters (`study`, `series`,
/// `instance`, `uid`, a patient's `id`), WADO-URI's query (`studyUID`, `seriesUID`, `objectUID`,
/// its only way to name them), and, for searches only, the PatientID being searched for. Other
/// query parameters never count: handlers ignore them, so they must not decide whose data it is.
struct AuditTarget {
    var patientID: String?
    var study: String?
    var series: String?
    var instance: String?

    init(route: String, requirement: Requirement, request: Request, parameters: Parameters) {
        patientID = parameters.decodedIfPresent("id") ?? parameters.decodedIfPresent("patient")
        study = parameters.get("study")
        series = parameters.get("series")
        instance = parameters.get("instance") ?? parameters.get("uid")
        let query = RequestQuery(request.uri.query)
        if route == "/wado" || route.hasSuffix("/wado") {
            study = query["studyUID"]
            series = query["seriesUID"]
            instance = query["objectUID"]
        }
        if AccessTable.isSearching(requirement), patientID == nil {
            patientID = query["PatientID"] ?? query["00100020"]  // what is searched for (QIDO narrows it to the scope itself)
        }
    }

    /// What the audit trail says about the request: its path and query (both can name patients;
    /// the trail is where that belongs), at most 1000 characters.
    func detail(_ request: Request) -> String {
        let text = "\(request.method) \(request.uri.path)" + (request.uri.query.map { "?\($0)" } ?? "")
        return String(text.prefix(1000))
    }
}
