import Archive
import DICOM
import Foundation
import Hummingbird
import Imaging

/// WADO-URI (PS3.18 9): `GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…` with
/// `contentType` application/dicom, image/jpeg (the default) or image/png.
extension DICOMwebService {
    func addWADOURIRoutes(to group: some RouterMethods<Context>) {
        group.get("wado") { request, _ in
            try await wadoURI(request)
        }
    }

    func wadoURI(_ request: Request) async throws -> Response {
        let parameters = RequestQuery(request.uri.query)
        guard parameters["requestType"] == "WADO" else { throw WebError.badRequest("requestType=WADO is required") }
        guard let study = parameters["studyUID"], let series = parameters["seriesUID"], let object = parameters["objectUID"],
              !study.isEmpty, !series.isEmpty, !object.isEmpty else {
            throw WebError.badRequest("studyUID, seriesUID and objectUID are required")
        }
        let types = (parameters["contentType"] ?? "image/jpeg").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let type = types.first(where: { ["application/dicom", "image/jpeg", "image/png", "*/*", "image/*"].contains($0) }) else {
            throw WebError.notAcceptable("contentType must be application/dicom, image/jpeg or image/png")
        }
        let instance = try await instances(study: study, series: series, instance: object)[0]
        if type == "application/dicom" {
            // Explicit VR Little Endian unless another syntax (or * for as stored) is asked for (PS3.18 9.4.2.4).
            let wanted = parameters["transferSyntax"] ?? Self.explicitVRLittleEndian
            let bytes = try await dicomBytes(instance, transferSyntax: wanted)
            return Response(status: .ok, headers: [.contentType: "application/dicom"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let frame = try parameters.integer("frameNumber") ?? 1
        guard frame >= 1 else { throw WebError.badRequest("frameNumber starts at 1") }
        var window: Window?
        if let center = parameters["windowCenter"], let width = parameters["windowWidth"] {
            guard let c = Double(center), let w = Double(width), w > 0 else {
                throw WebError.badRequest("windowCenter and windowWidth must be numbers, the width positive")
            }
            window = Window(center: c, width: w)
        }
        let rows = try parameters.integer("rows"), columns = try parameters.integer("columns")
        let viewport = rows != nil || columns != nil ? (columns ?? 0, rows ?? 0) : nil
        let quality = try parameters.integer("imageQuality").map { min(100, max(1, $0)) } ?? 90
        let render = RenderRequest(frame: frame, window: window, viewport: viewport,
                                   format: type == "image/png" ? .png : .jpeg(quality: quality))
        let image = try await blocking { () throws -> [UInt8] in
            do throws(ImagingError) { return try Renderer.render(file: instance.fileURL, render).bytes } catch {
                throw Self.renderError(instance, frame: frame, error)
            }
        }
        return Response(status: .ok, headers: [.contentType: render.format.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: image)))
    }
}
