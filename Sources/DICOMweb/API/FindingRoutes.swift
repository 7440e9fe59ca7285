import Access
import Archive
import Foundation
import Hummingbird

/// `GET /api/findings`: what the models found, newest first, with where (study, patient) and any
/// reviewer's verdict. Filters: `kind`, `label`, `PatientID`, `reviewed=true|false`; paging with
/// `limit` (default 50, at most 500) and `offset`. The review queue is
/// `?kind=anomaly&label=invalid&reviewed=false`; `remaining` says how much of it is left.
///
/// `POST /api/findings/{uid}/review` (`findings:review`): a verdict on an instance's finding, as JSON
/// `{"verdict": "confirmed" | "false-alarm", "kind": "anomaly", "note": "..."}` or the same as a
/// form; stored with who and when (kept when the model runs again, for training the next one) and
/// written to the audit trail in the same transaction.
extension DICOMwebService {
    func addFindingRoutes(to router: Router<Context>) {
        router.get("api/findings") { request, context in
            let identity = try context.requester
            let query = RequestQuery(request.uri.query)
            var selection = FindingSelection()
            selection.kind = query["kind"].flatMap { $0.isEmpty ? nil : $0 }
            selection.label = query["label"].flatMap { $0.isEmpty ? nil : $0 }
            selection.patientID = query["PatientID"].flatMap { $0.isEmpty ? nil : $0 }
            if query["reviewed"]?.isEmpty == false { selection.reviewed = try query.flag("reviewed") }
            selection.limit = try query.integer("limit") ?? 50
            guard (1...500).contains(selection.limit) else { throw WebError.badRequest("limit must be between 1 and 500") }
            selection.offset = try query.integer("offset") ?? 0
            selection.patients = identity.patients.map { Array($0).sorted() }
            if identity.searchesPhotosOnly { selection.modalities = Archive.clinicalPhotographModalities.sorted() }
            let archive = self.archive
            var page = try await blocking { [selection] () throws -> FindingPage in
                do throws(DerivationError) { return try archive.findings(selection) } catch { throw WebError.internalError(error.description) }
            }
            if !identity.may(.phi) { page.items = page.items.map { var item = $0; item.patientName = nil; return item } }
            return try jsonResponse(page)
        }
        router.post("api/findings/:uid/review") { request, context in
            let identity = try context.requester
            let uid = try context.parameters.require("uid")
            var request = request
            let body = try await request.collectBody(upTo: 16 * 1024)
            let fields = try PostedFields(body: body, contentType: request.headers[.contentType],
                                          example: #"{"verdict": "confirmed" or "false-alarm", "kind": "anomaly", "note": "..."}"#)
            guard let verdict = fields["verdict"].flatMap(ReviewVerdict.init(rawValue:)) else {
                throw WebError.badRequest("verdict must be \(ReviewVerdict.allCases.map(\.rawValue).joined(separator: " or ")), not '\(fields["verdict"] ?? "")'")
            }
            let kind = fields["kind"] ?? "anomaly", note = fields["note"]
            guard (note?.count ?? 0) <= 2000 else { throw WebError.badRequest("a note has at most 2000 characters") }
            let entry = identity.audit(.findingReviewed, sopInstanceUID: uid, detail: "\(kind): \(verdict.rawValue)")
            let archive = self.archive
            let reviewed = try await blocking { () throws -> IndexedFinding? in
                do throws(DerivationError) {
                    return try archive.review(sopInstanceUID: uid, kind: kind, verdict: verdict, note: note, audit: entry)
                } catch {
                    throw WebError.internalError(error.description)
                }
            }
            guard var reviewed else { throw WebError.notFound("instance \(uid) has no \(kind) finding") }
            if !identity.may(.phi) { reviewed.patientName = nil }
            return try jsonResponse(reviewed)
        }
    }
}
