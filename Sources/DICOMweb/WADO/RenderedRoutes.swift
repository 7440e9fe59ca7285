import Archive
import DICOM
import Foundation
import Hummingbird
import Imaging

/// WADO-RS rendered and thumbnail resources (PS3.18 10.4.1.1.4, 10.4.1.1.5): JPEG or PNG through
/// DCMTK's rendering, with `window=center,width[,function]`, `viewport=width,height`, `quality`.
extension DICOMwebService {
    /// Thumbnails fit this box unless a viewport says otherwise.
    static let thumbnailSize = 128

    func addRenderedRoutes(to group: RouterGroup<Context>) {
        group.get("studies/:study/series/:series/instances/:instance/rendered") { request, context in
            try await renderedInstance(request, context, frame: 1, thumbnail: false)
        }
        group.get("studies/:study/series/:series/instances/:instance/thumbnail") { request, context in
            try await renderedInstance(request, context, frame: 1, thumbnail: true)
        }
        group.get("studies/:study/series/:series/instances/:instance/frames/:frames/rendered") { request, context in
            try await renderedInstance(request, context, frame: try frameNumber(context), thumbnail: false)
        }
        group.get("studies/:study/series/:series/instances/:instance/frames/:frames/thumbnail") { request, context in
            try await renderedInstance(request, context, frame: try frameNumber(context), thumbnail: true)
        }
        group.get("studies/:study/series/:series/rendered") { request, context in
            try await renderedSeries(request, study: try context.parameters.require("study"), series: try context.parameters.require("series"))
        }
        group.get("studies/:study/series/:series/thumbnail") { request, context in
            let found = try await instances(study: try context.parameters.require("study"), series: try context.parameters.require("series"))
            return try await rendered(request, found[found.count / 2], frame: 1, thumbnail: true)
        }
        group.get("studies/:study/thumbnail") { request, context in
            let found = try await instances(study: try context.parameters.require("study"))
            return try await rendered(request, found[found.count / 2], frame: 1, thumbnail: true)
        }
    }

    private func frameNumber(_ context: Context) throws -> Int {
        let text = try context.parameters.require("frames")
        guard let frame = Int(text), frame >= 1 else { throw WebError.badRequest("frame numbers start at 1, not '\(text)'") }
        return frame
    }

    private func renderedInstance(_ request: Request, _ context: Context, frame: Int, thumbnail: Bool) async throws -> Response {
        let found = try await instances(study: try context.parameters.require("study"), series: try context.parameters.require("series"),
                                        instance: try context.parameters.require("instance"))
        return try await rendered(request, found[0], frame: frame, thumbnail: thumbnail)
    }

    /// JPEG unless the client prefers PNG; 406 when it takes neither. A multipart resource (a
    /// rendered series) also reads the part type of `multipart/related; type=image/png`.
    func renderedFormat(_ request: Request, quality: Int?, multipart: Bool = false) throws -> ImageFormat {
        let accept = Accept(request.headers[.accept])
        if accept.isEmpty { return .jpeg(quality: quality ?? 90) }
        if multipart, let (_, partType) = accept.multipart(["image/jpeg", "image/png"]) {
            return partType == "image/png" ? .png : .jpeg(quality: quality ?? 90)
        }
        for range in accept.ranges where range.quality > 0 {
            if range.matches("image/jpeg") && range.mediaType != "image/png" { return .jpeg(quality: quality ?? 90) }
            if range.matches("image/png") { return .png }
        }
        throw WebError.notAcceptable("rendered images are image/jpeg or image/png")
    }

    /// Reads `window`, `viewport` and `quality` (PS3.18 8.3.5.1).
    func renderRequest(_ request: Request, frame: Int, thumbnail: Bool, multipart: Bool = false) throws -> RenderRequest {
        let parameters = RequestQuery(request.uri.query)
        var window: Window?
        if let text = parameters["window"] {
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count >= 2, let center = Double(parts[0]), let width = Double(parts[1]), width > 0 else {
                throw WebError.badRequest("window is center,width[,function] with a positive width, not '\(text)'")
            }
            var function = Window.Function.linear
            if parts.count > 2 {
                guard let f = Window.Function(rawValue: parts[2].uppercased().replacingOccurrences(of: "-", with: "_")) else {
                    throw WebError.badRequest("window function must be linear, linear-exact or sigmoid, not '\(parts[2])'")
                }
                function = f
            }
            window = Window(center: center, width: width, function: function)
        }
        var viewport: (Int, Int)? = thumbnail ? (Self.thumbnailSize, Self.thumbnailSize) : nil
        if let text = parameters["viewport"] {
            let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2 || parts.count == 6, let w = parts[0], let h = parts[1], w > 0, h > 0 else {
                throw WebError.badRequest("viewport is width,height in pixels, not '\(text)'")
            }
            viewport = (w, h)
        }
        var quality: Int?
        if let text = parameters["quality"] {
            guard let q = Int(text), (1...100).contains(q) else { throw WebError.badRequest("quality is 1 to 100, not '\(text)'") }
            quality = q
        }
        return RenderRequest(frame: frame, window: window, viewport: viewport,
                             format: try renderedFormat(request, quality: quality, multipart: multipart))
    }

    func rendered(_ request: Request, _ instance: StoredInstance, frame: Int, thumbnail: Bool) async throws -> Response {
        let render = try renderRequest(request, frame: frame, thumbnail: thumbnail)
        let image = try await blocking { () throws -> [UInt8] in
            do throws(ImagingError) { return try Renderer.render(file: instance.fileURL, render).bytes } catch {
                throw Self.renderError(instance, frame: frame, error)
            }
        }
        return Response(status: .ok, headers: [.contentType: render.format.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: image)))
    }

    static func renderError(_ instance: StoredInstance, frame: Int, _ error: ImagingError) -> HTTPError {
        if error.description.contains("does not exist") {
            return WebError.notFound("instance \(instance.sopInstanceUID): \(error)")
        }
        return HTTPError(.unprocessableContent, message: "instance \(instance.sopInstanceUID) (\(instance.transferSyntaxUID)) cannot be rendered: \(error)")
    }

    /// Every instance of a series, rendered, as multipart/related.
    func renderedSeries(_ request: Request, study: String, series: String) async throws -> Response {
        let found = try await instances(study: study, series: series)
        let render = try renderRequest(request, frame: 1, thumbnail: false, multipart: true)
        let images = try await blocking { [render] () throws -> [[UInt8]] in
            try found.map { instance in
                do throws(ImagingError) { return try Renderer.render(file: instance.fileURL, render).bytes } catch {
                    throw Self.renderError(instance, frame: 1, error)
                }
            }
        }
        let boundary = Multipart.makeBoundary()
        let body = Multipart.body(boundary: boundary, parts: images.map { (render.format.mediaType, $0) })
        return Response(status: .ok, headers: [.contentType: "multipart/related; type=\"\(render.format.mediaType)\"; boundary=\(boundary)"],
                        body: .init(byteBuffer: body))
    }
}
