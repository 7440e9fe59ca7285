import Archive
import DICOM
import Foundation
import Hummingbird
import Imaging

/// WADO-RS frames (PS3.18 10.4.1.1.3) and bulk data: pixel data straight from the stored file —
/// native frames as they lie, compressed frames as stored (`transfer-syntax=*`) or decoded.
extension DICOMwebService {
    func addFrameRoutes(to group: RouterGroup<Context>) {
        group.get("studies/:study/series/:series/instances/:instance/frames/:frames") { request, context in
            let list = try context.parameters.require("frames")
            let numbers = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !numbers.isEmpty, numbers.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw WebError.badRequest("frames must be a comma-separated list of frame numbers from 1, not '\(list)'")
            }
            return try await frames(request, study: try context.parameters.require("study"), series: try context.parameters.require("series"),
                                    instance: try context.parameters.require("instance"), numbers: numbers.map { $0! })
        }
        group.get("studies/:study/series/:series/instances/:instance/bulkdata/**") { request, context in
            try await bulkData(request, study: try context.parameters.require("study"), series: try context.parameters.require("series"),
                               instance: try context.parameters.require("instance"), path: context.parameters.getCatchAll().map(String.init))
        }
    }

    /// Media types of compressed frames (PS3.18 Table 8.7.4-1).
    static let frameMediaTypes: [String: String] = [
        "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
        "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
        "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
        "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
        "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
        "1.2.840.10008.1.2.5": "image/x-dicom-rle",
    ]

    func frames(_ request: Request, study: String, series: String, instance: String, numbers: [Int]) async throws -> Response {
        let accept = Accept(request.headers[.accept])
        let imageTypes = Array(Set(Self.frameMediaTypes.values)).sorted()
        guard let (range, partType) = accept.multipart(["application/octet-stream"] + imageTypes) else {
            throw WebError.notAcceptable("frames are served as multipart/related; type=\"application/octet-stream\" (or the stored image type)")
        }
        guard let stored = try await instances(study: study, series: series, instance: instance).first else {
            throw WebError.notFound("no instance \(instance)")
        }
        let wanted = range.transferSyntax
        let (parts, syntax) = try await blocking { () throws -> ([[UInt8]], String) in
            try Self.frameParts(stored, numbers: numbers, partType: partType, wanted: wanted)
        }
        let partContentType = partType == "application/octet-stream"
            ? "application/octet-stream; transfer-syntax=\(syntax)" : "\(partType); transfer-syntax=\(syntax)"
        let boundary = Multipart.makeBoundary()
        let body = Multipart.body(boundary: boundary, parts: parts.map { (partContentType, $0) })
        return Response(status: .ok, headers: [
            .contentType: "multipart/related; type=\"\(partType)\"; transfer-syntax=\(syntax); boundary=\(boundary)",
        ], body: .init(byteBuffer: body))
    }

    /// The requested frames, and the transfer syntax they are in.
    static func frameParts(_ stored: StoredInstance, numbers: [Int], partType: String, wanted: String?) throws -> ([[UInt8]], String) {
        if TransferSyntax(uid: stored.transferSyntaxUID).isDeflated {
            // Frame offsets of a deflated data set are not file offsets: DCMTK inflates and hands them over.
            guard partType == "application/octet-stream", wanted == nil || wanted == "*" || wanted == explicitVRLittleEndian else {
                throw WebError.notAcceptable("frames of \(stored.sopInstanceUID) are uncompressed; they are served as application/octet-stream")
            }
            do {
                return (try numbers.map { n throws(ImagingError) in try Renderer.decodeFrame(file: stored.fileURL, frame: n).bytes },
                        explicitVRLittleEndian)
            } catch {
                throw WebError.notFound("frames of \(stored.sopInstanceUID): \(error)")
            }
        }
        let data: Data
        let file: DICOMFile
        let layout: PixelDataFrames
        do {
            data = try Data(contentsOf: stored.fileURL, options: .alwaysMapped)
            file = try DICOMReader.read(data, options: .headerOnly)
            layout = try PixelDataFrames(file: file, contents: data)
        } catch {
            throw WebError.notFound("instance \(stored.sopInstanceUID) has no frames to serve: \(error)")
        }
        if let missing = numbers.first(where: { $0 > layout.count }) {
            throw WebError.notFound("frame \(missing) does not exist: instance \(stored.sopInstanceUID) has \(layout.count)")
        }
        let storedSyntax = stored.transferSyntaxUID
        func asStored() throws -> [[UInt8]] {
            do { return try numbers.map { n throws(DICOMError) in try layout.frame(n, in: data) } } catch {
                throw WebError.internalError("frame data of \(stored.sopInstanceUID) is damaged: \(error)")
            }
        }
        if file.transferSyntax.isNative {
            guard partType == "application/octet-stream", wanted == nil || wanted == "*" || wanted == explicitVRLittleEndian else {
                throw WebError.notAcceptable("frames of \(stored.sopInstanceUID) are uncompressed; they are served as application/octet-stream")
            }
            return (try asStored(), explicitVRLittleEndian)
        }
        if partType != "application/octet-stream" {
            guard frameMediaTypes[storedSyntax] == partType, wanted == nil || wanted == "*" || wanted == storedSyntax else {
                throw WebError.notAcceptable("frames of \(stored.sopInstanceUID) are stored as \(storedSyntax), not \(partType)")
            }
            return (try asStored(), storedSyntax)
        }
        if wanted == "*" || wanted == storedSyntax { return (try asStored(), storedSyntax) }
        guard wanted == nil || wanted == explicitVRLittleEndian else {
            throw WebError.notAcceptable("frames of \(stored.sopInstanceUID) are stored as \(storedSyntax); ask for it, for * or for uncompressed")
        }
        do {
            return (try numbers.map { n throws(ImagingError) in try Renderer.decodeFrame(file: stored.fileURL, frame: n).bytes },
                    explicitVRLittleEndian)
        } catch {
            throw WebError.notAcceptable("frames of \(stored.sopInstanceUID) (\(storedSyntax)) cannot be decoded here: \(error); ask for transfer-syntax=*")
        }
    }

    func bulkData(_ request: Request, study: String, series: String, instance: String, path: [String]) async throws -> Response {
        guard let stored = try await instances(study: study, series: series, instance: instance).first else {
            throw WebError.notFound("no instance \(instance)")
        }
        guard let first = path.first, let tag = DICOM.Tag(hex: first) else {
            throw WebError.badRequest("a bulk data path starts with a tag (GGGGEEEE)")
        }
        if path.count == 1, tag == .pixelData {
            // Pixel data: every frame, as the frames resource would give them.
            let accept = Accept(request.headers[.accept])
            guard let (range, partType) = accept.multipart(["application/octet-stream"]) else {
                throw WebError.notAcceptable("bulk data is served as multipart/related; type=\"application/octet-stream\"")
            }
            let (parts, syntax) = try await blocking { () throws -> ([[UInt8]], String) in
                let count = try Self.frameCount(stored)
                return try Self.frameParts(stored, numbers: Array(1...count), partType: partType, wanted: range.transferSyntax)
            }
            let boundary = Multipart.makeBoundary()
            let body = Multipart.body(boundary: boundary, parts: parts.map { ("application/octet-stream; transfer-syntax=\(syntax)", $0) })
            return Response(status: .ok, headers: [
                .contentType: "multipart/related; type=\"application/octet-stream\"; transfer-syntax=\(syntax); boundary=\(boundary)",
            ], body: .init(byteBuffer: body))
        }
        let value = try await blocking { () throws -> [UInt8] in
            let dataSet: DataSet
            do { dataSet = try DICOMReader.read(contentsOf: stored.fileURL).dataSet } catch {
                throw WebError.internalError("cannot read instance \(stored.sopInstanceUID): \(error)")
            }
            guard let element = Self.element(at: path, in: dataSet) else {
                throw WebError.notFound("instance \(stored.sopInstanceUID) has no value at \(path.joined(separator: "/"))")
            }
            switch element.value {
            case .bytes(let bytes): return bytes
            case .fragments(_, let fragments): return fragments.flatMap { $0 }
            case .sequence: throw WebError.badRequest("\(path.joined(separator: "/")) is a sequence, not a bulk value")
            }
        }
        let boundary = Multipart.makeBoundary()
        return Response(status: .ok, headers: [.contentType: "multipart/related; type=\"application/octet-stream\"; boundary=\(boundary)"],
                        body: .init(byteBuffer: Multipart.body(boundary: boundary, parts: [("application/octet-stream", value)])))
    }

    static func frameCount(_ stored: StoredInstance) throws -> Int {
        do {
            let data = try Data(contentsOf: stored.fileURL, options: .alwaysMapped)
            return try PixelDataFrames(file: try DICOMReader.read(data, options: .headerOnly), contents: data).count
        } catch {
            throw WebError.notFound("instance \(stored.sopInstanceUID) has no pixel data: \(error)")
        }
    }

    /// The element a bulk data path names: `tag`, or `sequence/item/.../tag` (item indexes from 0).
    static func element(at path: [String], in dataSet: DataSet) -> DataElement? {
        guard let first = path.first, let tag = DICOM.Tag(hex: first), let element = dataSet[tag] else { return nil }
        if path.count == 1 { return element }
        guard path.count >= 3, let index = Int(path[1]), let items = element.items, items.indices.contains(index) else { return nil }
        return Self.element(at: Array(path.dropFirst(2)), in: items[index])
    }
}
