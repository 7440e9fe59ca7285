import Access
import Archive
import Foundation
import Hummingbird
import Imaging

/// `/api/similar`: archived instances most like an archived one (`GET ?instance=UID`) or like
/// an uploaded image (`POST`, a DICOM file, PNG or JPEG as the raw body with its Content-Type
/// or as the first file of a multipart form). Parameters: `k` (default 10, at most 1000),
/// `modality`, `patient`, `kind` (`flush` or `lesion`: clinical photos of that kind),
/// `exclude-same-series=true`, `exclude-same-patient=true` (other patients only). Requesters limited to some patients search (and may ask about) only
/// theirs; without `phi` results carry no patient names.
extension DICOMwebService {
    func addSimilarityRoutes(to router: Router<Context>) {
        router.get("api/similar") { request, context in
            let identity = try context.requester
            let query = RequestQuery(request.uri.query)
            guard let uid = query["instance"], !uid.isEmpty else {
                throw WebError.badRequest("give the query instance as ?instance=SOPInstanceUID (or POST an image)")
            }
            let (k, filter) = try Self.similarityParameters(query, for: identity)
            if identity.patients != nil {
                let archive = self.archive
                let owner = try await blocking { try archive.patientID(ofInstance: uid) }
                guard identity.mayAccess(patient: owner) else { throw HTTPError(.forbidden, message: "\(identity.name) is limited to other patients") }
            }
            let search = try self.similaritySearch()
            let matches = try await blocking { () throws -> [SimilarityMatch] in
                do throws(SimilarityError) { return try search.similar(toInstance: uid, k: k, filter: filter) } catch {
                    throw error.httpError
                }
            }
            return try jsonResponse(SimilarResponse(model: search.embedder.modelID, query: uid, matches: Self.visible(matches, to: identity),
                                                    root: publicURL(request).root))
        }
        router.post("api/similar") { request, context in
            let identity = try context.requester
            let query = RequestQuery(request.uri.query)
            let (k, filter) = try Self.similarityParameters(query, for: identity)
            let search = try self.similaritySearch()
            let body = try await request.body.collect(upTo: configuration.maxUploadBytes)
            let (type, bytes) = try Self.uploadedImage(contentType: request.headers[.contentType], body: body)
            let matches = try await blocking { () throws -> [SimilarityMatch] in
                do throws(SimilarityError) {
                    return try search.similar(toUpload: bytes, mediaType: type, k: k, filter: filter)
                } catch {
                    throw error.httpError
                }
            }
            return try jsonResponse(SimilarResponse(model: search.embedder.modelID, query: nil, matches: Self.visible(matches, to: identity),
                                                    root: publicURL(request).root))
        }
    }

    /// The matches of the requester's patients, without names unless it has `phi`.
    static func visible(_ matches: [SimilarityMatch], to identity: Identity) -> [SimilarityMatch] {
        matches.filter { identity.mayAccess(patient: $0.instance.patientID) }.map { match in
            guard !identity.may(.phi) else { return match }
            var redacted = match
            redacted.instance.patientName = nil
            return redacted
        }
    }

    private func similaritySearch() throws -> SimilaritySearch {
        do throws(SimilarityError) { return try similarity.search() } catch { throw error.httpError }
    }

    static func similarityParameters(_ query: RequestQuery, for identity: Identity) throws -> (Int, SimilarityFilter) {
        let k = try query.integer("k") ?? 10
        guard (1...1000).contains(k) else { throw WebError.badRequest("k must be between 1 and 1000, not \(k)") }
        var filter = SimilarityFilter()
        filter.archive.modality = query["modality"].flatMap { $0.isEmpty ? nil : $0 }
        filter.archive.patientID = query["patient"].flatMap { $0.isEmpty ? nil : $0 }
        if let patients = identity.patients {
            if let patient = filter.archive.patientID, !patients.contains(patient) {
                throw HTTPError(.forbidden, message: "\(identity.name) is limited to other patients")
            }
            // One patient: search only theirs (exact); several: the results are filtered after.
            if patients.count == 1 { filter.archive.patientID = patients.first }
        }
        if let kind = query["kind"], !kind.isEmpty {
            guard let photoKind = PhotoSubmission.Kind(rawValue: kind) else { throw WebError.badRequest("kind must be flush or lesion, not '\(kind)'") }
            filter.archive.photoKind = photoKind
        }
        filter.excludeSameSeries = try query.flag("exclude-same-series")
        filter.excludeSamePatient = try query.flag("exclude-same-patient")
        return (k, filter)
    }

    /// The image of a POST: the body itself, or the first part of a multipart body that has content.
    static func uploadedImage(contentType: String?, body: ByteBuffer) throws -> (String, [UInt8]) {
        guard let contentType, let range = MediaRange.parse(contentType).first else {
            throw WebError.unsupportedMediaType("send the image with its Content-Type: application/dicom, image/png or image/jpeg")
        }
        guard range.mediaType.hasPrefix("multipart/") else { return (range.mediaType, Array(buffer: body)) }
        // A form with one image: a few parts at most.
        let parts = try Multipart.requestParts(body, boundary: try Multipart.requiredBoundary(range), maximumParts: 16)
        guard let part = parts.first(where: { $0.body.readableBytes > 0 }) else { throw WebError.badRequest("the form holds no image") }
        let type = part.contentType.flatMap { MediaRange.parse($0).first?.mediaType } ?? "application/octet-stream"
        return (type, Array(buffer: part.body))
    }
}

/// `{"model": …, "query": UID?, "results": [...]}`; result keys are DICOM keywords plus
/// `score` and the URLs of the instance's thumbnail, rendered image and derived PNG.
public struct SimilarResponse: Encodable, Sendable {
    let model: String
    let query: String?
    let results: [Result]

    /// - Parameter root: the public URL of `/dicom-web`.
    public init(model: String, query: String?, matches: [SimilarityMatch], root: String) {
        self.model = model
        self.query = query
        let urls = PublicURL(root: root)
        results = matches.map { match in
            let i = match.instance
            let instanceURL = urls.instance(i.studyInstanceUID, i.seriesInstanceUID, i.sopInstanceUID)
            return Result(instance: i, score: match.score, thumbnail: "\(instanceURL)/thumbnail",
                          rendered: "\(instanceURL)/rendered", derived: "/api/derived/\(i.sopInstanceUID).png")
        }
    }

    public struct Result: Encodable, Sendable {
        let instance: EmbeddedInstance
        let score: Float
        let thumbnail: String
        let rendered: String
        let derived: String

        enum CodingKeys: String, CodingKey { case score, thumbnail, rendered, derived }

        public func encode(to encoder: any Encoder) throws {
            try instance.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(score, forKey: .score)
            try container.encode(thumbnail, forKey: .thumbnail)
            try container.encode(rendered, forKey: .rendered)
            try container.encode(derived, forKey: .derived)
        }
    }
}

extension SimilarityError {
    var httpError: HTTPError { HTTPError(HTTPResponse.Status(code: status), message: description) }
}
