import Access
import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird

/// QIDO-RS (PS3.18 10.6): search for studies, series and instances, answered from the index.
extension DICOMwebService {
    func addSearchRoutes(to group: RouterGroup<Context>) {
        group.get("studies") { request, context in
            try await search(request, context, level: .study)
        }
        group.get("series") { request, context in
            try await search(request, context, level: .series)
        }
        group.get("instances") { request, context in
            try await search(request, context, level: .image)
        }
        group.get("studies/:study/series") { request, context in
            try await search(request, context, level: .series, study: try context.parameters.require("study"))
        }
        group.get("studies/:study/instances") { request, context in
            try await search(request, context, level: .image, study: try context.parameters.require("study"))
        }
        group.get("studies/:study/series/:series/instances") { request, context in
            try await search(request, context, level: .image, study: try context.parameters.require("study"),
                             series: try context.parameters.require("series"))
        }
    }

    /// A search as the requester may see it: limited to its patients, and without who the patients
    /// are unless it has `phi`.
    func search(_ request: Request, _ context: Context, level: QueryLevel, study: String? = nil, series: String? = nil) async throws -> Response {
        let identity = try context.requester
        let accept = Accept(request.headers[.accept])
        guard accept.single("application/dicom+json") != nil || accept.single("application/json") != nil else {
            throw WebError.notAcceptable("QIDO-RS answers application/dicom+json")
        }
        var parsed = try QIDORequest(level: level, parameters: RequestQuery(request.uri.query), study: study, series: series,
                                     caseInsensitiveNames: configuration.caseInsensitivePersonNames)
        try PatientPrivacy.restrict(&parsed.query, for: identity)
        let qido = parsed
        let redacted = !identity.may(.phi)
        let archive = self.archive
        let urls = publicURL(request)
        // Query and encoding both run off the concurrency pool.
        let (json, total, scopeExists) = try await blocking { () throws -> (String, Int, Bool) in
            var matches: [DataSet], total: Int, documents: [String: MetadataRecord]
            var scopeExists = true
            do throws(QueryError) {
                matches = try archive.find(qido.query)
                total = qido.isPaged ? try archive.count(qido.query) : matches.count
                // Instance level, includefield=all: the whole stored document of each match as well.
                documents = qido.includesAll && level == .image
                    ? try archive.metadata(sopInstanceUIDs: matches.compactMap { $0.string(.sopInstanceUID) }) : [:]
                if matches.isEmpty, let study {
                    // A search inside a study or series that is not there is a 404, not an empty list.
                    var keys = [QueryKey(tag: .studyInstanceUID, vr: .UI, constraint: .single(study))]
                    if let series { keys.append(QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .single(series))) }
                    scopeExists = try archive.count(ArchiveQuery(level: series == nil ? .study : .series, keys: keys)) > 0
                }
            } catch {
                throw error.httpError
            }
            if redacted { for i in matches.indices { PatientPrivacy.redact(&matches[i]) } }
            return (try Self.encode(matches, level: level, documents: documents, urls: urls, redacted: redacted), total, scopeExists)
        }
        guard scopeExists else {
            throw WebError.notFound(series == nil ? "no study \(study!)" : "no series \(series!) in study \(study!)")
        }
        var headers: HTTPFields = [.contentType: "application/dicom+json"]
        headers[HTTPField.Name("X-Total-Count")!] = String(total)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    /// The matches as a DICOM JSON array, each with its RetrieveURL and InstanceAvailability.
    static func encode(_ matches: [DataSet], level: QueryLevel, documents: [String: MetadataRecord], urls: PublicURL,
                       redacted: Bool = false) throws -> String {
        let encoder = DICOMJSONEncoder()
        var json = "["
        json.reserveCapacity(matches.count * 800)
        for (i, var match) in matches.enumerated() {
            if i > 0 { json += "," }
            if let url = retrieveURL(match, level: level, urls) { match.set(DICOM.Tag(0x0008, 0x1190), VR.UR, url) }
            match.set(.instanceAvailability, .CS, "ONLINE")
            let object = encoder.encode(match)
            if let document = match.string(.sopInstanceUID).flatMap({ documents[$0] }) {
                json += try merged(object, document, urls: urls, redacted: redacted)
            } else {
                json += object
            }
        }
        json += "]"
        return json
    }

    /// The query result's attributes over the instance's stored document (bulk URIs resolved).
    private static func merged(_ object: String, _ record: MetadataRecord, urls: PublicURL, redacted: Bool) throws -> String {
        var document: [UInt8] = []
        let raw: [UInt8]
        do throws(QueryError) { raw = try record.json() } catch { throw error.httpError }
        BulkDataURIs.append(raw, rewrittenTo: Array((urls.instance(record.studyInstanceUID, record.seriesInstanceUID,
                                                                      record.sopInstanceUID) + "/bulkdata/").utf8), into: &document)
        guard var all = try JSONSerialization.jsonObject(with: Data(document)) as? [String: Any],
              let own = try JSONSerialization.jsonObject(with: Data(object.utf8)) as? [String: Any] else { return object }
        all.merge(own) { _, queried in queried }
        if redacted { all = all.filter { !PatientPrivacy.identifyingKeys.contains($0.key) } }
        return String(decoding: try JSONSerialization.data(withJSONObject: all, options: [.sortedKeys]), as: UTF8.self)
    }

    private static func retrieveURL(_ match: DataSet, level: QueryLevel, _ urls: PublicURL) -> String? {
        guard let study = match.string(.studyInstanceUID) else { return nil }
        switch level {
        case .patient, .study: return urls.study(study)
        case .series: return match.string(.seriesInstanceUID).map { urls.series(study, $0) }
        case .image:
            guard let series = match.string(.seriesInstanceUID), let sop = match.string(.sopInstanceUID) else { return nil }
            return urls.instance(study, series, sop)
        }
    }
}
