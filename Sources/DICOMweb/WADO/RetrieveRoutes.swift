import Archive
import DICOM
import Foundation
import Hummingbird
import Imaging

/// WADO-RS retrieve of studies, series and instances as `multipart/related; type="application/dicom"`
/// (PS3.18 10.4): files as stored when the client takes any transfer syntax (`transfer-syntax=*`),
/// else converted to the one it asks for (Explicit VR Little Endian by default).
extension DICOMwebService {
    static let explicitVRLittleEndian = "1.2.840.10008.1.2.1"

    func addRetrieveRoutes(to group: RouterGroup<Context>) {
        getAtEachLevel(group) { request, study, series, instance in
            try await retrieve(request, study: study, series: series, instance: instance)
        }
    }

    /// The stored instances a path names; 404 when there are none.
    func instances(study: String, series: String? = nil, instance: String? = nil) async throws -> [StoredInstance] {
        var keys = [QueryKey(tag: .studyInstanceUID, vr: .UI, constraint: .single(study))]
        if let series { keys.append(QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .single(series))) }
        if let instance { keys.append(QueryKey(tag: .sopInstanceUID, vr: .UI, constraint: .single(instance))) }
        let archive = self.archive
        let query = ArchiveQuery(level: .image, keys: keys)
        let found = try await blocking { () throws -> [StoredInstance] in
            do throws(QueryError) { return try archive.locate(query) } catch { throw error.httpError }
        }
        guard !found.isEmpty else {
            let what = instance.map { "instance \($0)" } ?? series.map { "series \($0)" } ?? "study \(study)"
            throw WebError.notFound("no \(what)" + (instance != nil || series != nil ? " in study \(study)" : ""))
        }
        // A lost file (missing, or not at its archived size) is never served: what is left is, and
        // with nothing left the answer says why.
        var intact: [StoredInstance] = [], lost: [StoredInstance] = []
        for item in found {
            if item.fileIsIntact { intact.append(item) } else { lost.append(item) }
        }
        if !lost.isEmpty {
            logger.error("files lost from the archive: run `loupe check`", metadata: [
                "lost": "\(lost.count)", "first": "\(lost[0].fileURL.path)"])
            if intact.isEmpty {
                throw WebError.gone("the file of instance \(lost[0].sopInstanceUID) is lost from the archive (missing or damaged); "
                    + "`loupe check` reports such files")
            }
        }
        return intact
    }

    func retrieve(_ request: Request, study: String, series: String? = nil, instance: String? = nil) async throws -> Response {
        let accept = Accept(request.headers[.accept])
        // A single instance may also be asked for as bare application/dicom.
        let single = instance != nil && accept.multipart(["application/dicom"]) == nil ? accept.single("application/dicom") : nil
        guard let range = accept.multipart(["application/dicom"])?.range ?? single else {
            throw WebError.notAcceptable("instances are served as multipart/related; type=\"application/dicom\"")
        }
        let wanted = range.transferSyntax ?? Self.explicitVRLittleEndian
        let found = try await instances(study: study, series: series, instance: instance)
        if single != nil, let only = found.first {
            let bytes = try await dicomBytes(only, transferSyntax: wanted)
            return Response(status: .ok, headers: [.contentType: "application/dicom; transfer-syntax=\(wanted == "*" ? only.transferSyntaxUID : wanted)"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        // Conversions happen before the first byte is sent: one that fails is a 406, not a cut-off body.
        var converted: [String: [UInt8]] = [:]
        for item in found where wanted != "*" && wanted != item.transferSyntaxUID {
            converted[item.sopInstanceUID] = try await dicomBytes(item, transferSyntax: wanted)
        }
        let prepared = converted
        let boundary = Multipart.makeBoundary()
        let body = ResponseBody { writer in
            for item in found {
                let partType = "application/dicom; transfer-syntax=\(wanted == "*" ? item.transferSyntaxUID : wanted)"
                try await writer.write(Multipart.partHeader(boundary: boundary, contentType: partType))
                let bytes = try await prepared[item.sopInstanceUID].asyncOr { try await dicomBytes(item, transferSyntax: "*") }
                try await writer.write(ByteBuffer(bytes: bytes))
                try await writer.write(Multipart.partEnd)
            }
            try await writer.write(Multipart.closing(boundary: boundary))
            try await writer.finish(nil)
        }
        let contentType = "multipart/related; type=\"application/dicom\"; boundary=\(boundary)"
            + (wanted == "*" ? "" : "; transfer-syntax=\(wanted)")
        return Response(status: .ok, headers: [.contentType: contentType], body: body)
    }

    /// The Part-10 bytes of an instance: as stored, or converted to the requested syntax.
    func dicomBytes(_ instance: StoredInstance, transferSyntax wanted: String) async throws -> [UInt8] {
        try await blocking { () throws -> [UInt8] in
            if wanted == "*" || wanted == instance.transferSyntaxUID {
                return try Array(Data(contentsOf: instance.fileURL))
            }
            do {
                return try Transcoder.transcode(file: instance.fileURL, to: wanted)
            } catch {
                throw WebError.notAcceptable("instance \(instance.sopInstanceUID) is stored as \(instance.transferSyntaxUID) "
                    + "and cannot be served as \(wanted) (\(error)); ask for transfer-syntax=*")
            }
        }
    }
}

extension Optional where Wrapped: Sendable {
    /// The value, or the result of an async fallback.
    func asyncOr(_ fallback: () async throws -> Wrapped) async rethrows -> Wrapped {
        if let self { return self }
        return try await fallback()
    }
}
