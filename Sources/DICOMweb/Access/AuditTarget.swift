import Hummingbird

/// The patient data a request names: from its route's parameters (`study`, `series`, `instance`,
/// `uid`, a derived file's `name`, a patient's `id`) or from WADO-URI's and QIDO's query.
struct AuditTarget {
    var patientID: String?
    var study: String?
    var series: String?
    var instance: String?

    init(request: Request, parameters: Parameters) {
        let query = RequestQuery(request.uri.query)
        patientID = parameters.get("id") ?? query["PatientID"] ?? query["00100020"]
        study = parameters.get("study") ?? query["studyUID"]
        series = parameters.get("series") ?? query["seriesUID"]
        instance = parameters.get("instance") ?? parameters.get("uid") ?? query["objectUID"]
            ?? parameters.get("name").map { name in name.split(separator: ".").dropLast().joined(separator: ".") }
    }

    /// What the audit trail says about the request: its path and query (both can name patients;
    /// the trail is where that belongs), at most 1000 characters.
    func detail(_ request: Request) -> String {
        let text = "\(request.method) \(request.uri.path)" + (request.uri.query.map { "?\($0)" } ?? "")
        return String(text.prefix(1000))
    }
}
