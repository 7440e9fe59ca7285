import Archive
import DICOM
import Foundation
import Hummingbird

/// WADO-RS metadata (PS3.18 10.4.1.1.2) at study, series and instance level: the DICOM JSON the
/// archive stored at ingest, never re-read from files; bulk values as BulkDataURIs; gzip on request.
extension DICOMwebService {
    func addMetadataRoutes(to group: RouterGroup<Context>) {
        getAtEachLevel(group, suffix: "metadata") { request, study, series, instance in
            try await metadata(request, study: study, series: series, instance: instance)
        }
    }

    func metadata(_ request: Request, study: String, series: String? = nil, instance: String? = nil) async throws -> Response {
        let accept = Accept(request.headers[.accept])
        guard accept.single("application/dicom+json") != nil || accept.single("application/json") != nil else {
            throw WebError.notAcceptable("metadata is served as application/dicom+json")
        }
        let urls = publicURL(request)
        let gzip = acceptsGzip(request)
        let archive = self.archive
        let body = try await blocking { () throws -> [UInt8]? in
            let records: [MetadataRecord]
            do throws(QueryError) { records = try archive.metadata(study: study, series: series, instance: instance) } catch { throw error.httpError }
            guard !records.isEmpty else { return nil }
            var json: [UInt8] = [UInt8(ascii: "[")]
            json.reserveCapacity(records.count * 4096)
            for (i, record) in records.enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                let document: [UInt8]
                do throws(QueryError) { document = try record.json() } catch { throw error.httpError }
                let bulkRoot = urls.instance(record.studyInstanceUID, record.seriesInstanceUID, record.sopInstanceUID) + "/bulkdata/"
                BulkDataURIs.append(document, rewrittenTo: Array(bulkRoot.utf8), into: &json)
            }
            json.append(UInt8(ascii: "]"))
            return gzip ? try Deflate.gzip(json) : json
        }
        guard let body else {
            let what = instance.map { "instance \($0)" } ?? series.map { "series \($0)" } ?? "study \(study)"
            throw WebError.notFound("no \(what)")
        }
        var headers: HTTPFields = [.contentType: "application/dicom+json"]
        if gzip { headers[.contentEncoding] = "gzip" }
        headers[.vary] = "Accept-Encoding"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func acceptsGzip(_ request: Request) -> Bool {
        guard let header = request.headers[.acceptEncoding] else { return false }
        return header.split(separator: ",").contains { item in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            return parts.first == "gzip" && !parts.dropFirst().contains("q=0")
        }
    }
}

/// The stored documents name bulk values `loupe-bulkdata:<tag path>`; served, they point into the
/// instance's bulkdata resource.
enum BulkDataURIs {
    static let scheme = Array(MetadataDocument.bulkDataScheme.utf8)

    static func append(_ document: [UInt8], rewrittenTo root: [UInt8], into out: inout [UInt8]) {
        var start = 0
        document.withUnsafeBytes { raw in
            while let hit = Multipart.find(scheme, in: raw, from: start) {
                out.append(contentsOf: document[start..<hit])
                out.append(contentsOf: root)
                start = hit + scheme.count
            }
        }
        out.append(contentsOf: document[start...])
    }
}
