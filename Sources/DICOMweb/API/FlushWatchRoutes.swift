import Access
import Archive
import Foundation
import Hummingbird

/// `GET /api/ward`: the flush watch of a day (`date=YYYYMMDD`, default today where the node is):
/// per patient photographed, the photos in the order taken with their level and score against the
/// baseline, and the alerts they raised with who acknowledged them. `PatientID=` for one patient's
/// episode. Patients' names only with `phi`; a requester limited to some patients sees only theirs.
extension DICOMwebService {
    func addFlushWatchRoutes(to router: Router<Context>) {
        router.get("api/ward") { request, context in
            let identity = try context.requester
            let query = RequestQuery(request.uri.query)
            let day = try query["date"].flatMap { $0.isEmpty ? nil : $0 }.map { text throws -> String in
                let digits = text.replacingOccurrences(of: "-", with: "")
                guard digits.count == 8, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else {
                    throw WebError.badRequest("date must be YYYYMMDD or YYYY-MM-DD, not '\(text)'")
                }
                return digits
            } ?? Archive.dicomDate(Date(), .current)
            let patient = query["PatientID"].flatMap { $0.isEmpty ? nil : $0 }
            let limited = identity.patients.map { Array($0).sorted() }
            let archive = self.archive
            var episodes = try await blocking { () throws -> [FlushEpisode] in
                do throws(QueryError) { return try archive.flushEpisodes(day: day, patientID: patient, patients: limited) } catch { throw error.httpError }
            }
            if !identity.may(.phi) { episodes = episodes.map { var episode = $0; episode.PatientName = nil; return episode } }
            return try jsonResponse(WardDay(day: day, episodes: episodes))
        }
    }

    struct WardDay: Encodable {
        let day: String
        let episodes: [FlushEpisode]
    }
}
