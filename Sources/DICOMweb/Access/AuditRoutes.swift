import Access
import Archive
import Foundation
import Hummingbird

/// `GET /api/audit` (the trail, for admins; filters `user`, `patient`, `action`, `from`, `to`,
/// `after`, `limit`, and `order=newest` for the latest entries first) and
/// `POST /api/alerts/{seq}/acknowledge` (an alert seen to, audited in the same transaction).
extension DICOMwebService {
    func addAuditRoutes(to router: Router<Context>) {
        router.get("api/audit") { request, _ in
            let query = RequestQuery(request.uri.query)
            var filter = AuditFilter(actor: query["user"], patientID: query["patient"], limit: min(try query.integer("limit") ?? 1000, 10_000))
            if let action = query["action"] {
                guard let known = AuditRecord.Action(rawValue: action) else {
                    throw WebError.badRequest("unknown action '\(action)' (known: \(AuditRecord.Action.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                filter.action = known
            }
            filter.from = try Self.date(query["from"], name: "from")
            filter.to = try Self.date(query["to"], name: "to")
            filter.after = try query.integer("after").map(Int64.init)
            switch query["order"] {
            case nil, "", "oldest": break
            case "newest": filter.newestFirst = true
            case let other?: throw WebError.badRequest("order must be oldest or newest, not '\(other)'")
            }
            // The index is asked after the audit log's pending entries are written, so a client sees its own requests.
            let access = self.access, archive = self.archive, selection = filter
            let entries = try await blocking { () throws -> [AuditRecord] in
                access.auditLog.flush()
                do throws(AccessRecordError) { return try archive.audit(selection) } catch { throw WebError.internalError(error.description) }
            }
            return try jsonResponse(entries.map(AuditEntry.init))
        }
        router.post("api/alerts/:seq/acknowledge") { request, context in
            let identity = try context.requester
            guard let sequence = Int64(try context.parameters.require("seq")), sequence > 0 else {
                throw WebError.badRequest("an alert is named by its event id (a positive integer)")
            }
            var request = request
            let body = String(buffer: try await request.collectBody(upTo: 4096))
            // A form (a page's button: its note field; the csrf field is not part of it), or plain text.
            let isForm = request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true
            let note = (isForm ? RequestQuery(body)["note"] ?? "" : body).trimmingCharacters(in: .whitespacesAndNewlines)
            let archive = self.archive
            let event = try await blocking { () throws -> StoredEvent? in
                do throws(DerivationError) { return try archive.event(sequence: sequence) } catch { throw WebError.internalError(error.description) }
            }
            guard let event, identity.may(.events(event.topic)), identity.mayAccess(patient: event.patientID) else {
                throw WebError.notFound("no alert \(sequence) that \(identity.name) may see")
            }
            let entry = identity.audit(.alertAcknowledged, patientID: event.patientID, detail: "event \(sequence) (\(event.topic))")
            let recorded = try await blocking { () throws -> Bool in
                do throws(AccessRecordError) {
                    return try archive.acknowledgeAlert(sequence: sequence, note: note.isEmpty ? nil : note, audit: entry)
                } catch {
                    throw HTTPError(HTTPResponse.Status(code: AccessError(error).httpStatus), message: error.description)
                }
            }
            return try jsonResponse(["acknowledged": sequence], status: recorded ? .created : .ok)
        }
    }

    /// One audit entry as `/api/audit` shows it.
    struct AuditEntry: Encodable {
        let seq: Int64
        let time: String
        let actor: String
        let actorKind: String
        let address: String?
        let action: String
        let outcome: String
        let patientID: String?
        let studyInstanceUID: String?
        let seriesInstanceUID: String?
        let sopInstanceUID: String?
        let detail: String?

        init(_ r: AuditRecord) {
            seq = r.sequence
            time = ISO8601DateFormatter.string(from: r.time, timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
            actor = r.actor
            actorKind = r.actorKind.rawValue
            address = r.address
            action = r.action.rawValue
            outcome = r.outcome.rawValue
            patientID = r.patientID
            studyInstanceUID = r.studyInstanceUID
            seriesInstanceUID = r.seriesInstanceUID
            sopInstanceUID = r.sopInstanceUID
            detail = r.detail
        }
    }

    /// An ISO 8601 date-time (or a date, taken as its midnight UTC) from a query parameter.
    static func date(_ text: String?, name: String) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        guard let date = full.date(from: text) ?? plain.date(from: text) ?? day.date(from: text) else {
            throw WebError.badRequest("\(name) must be an ISO 8601 date or date-time, not '\(text)'")
        }
        return date
    }
}
