import CDCMTK
import DICOM
import Foundation

/// Output formats of rendered images.
public enum ImageFormat: Sendable, Equatable {
    case png
    case jpeg(quality: Int)
    /// Raw 8-bit RGB, row-major and interleaved (grey replicated), for models.
    case rgb8

    public var mediaType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .rgb8: "application/octet-stream"
        }
    }
}

/// An explicit VOI window (PS3.3 C.11.2.1.2).
public struct Window: Sendable, Equatable {
    public enum Function: String, Sendable {
        case linear = "LINEAR"
        case linearExact = "LINEAR_EXACT"
        case sigmoid = "SIGMOID"
    }

    public var center: Double
    public var width: Double
    public var function: Function

    public init(center: Double, width: Double, function: Function = .linear) {
        self.center = center
        self.width = width
        self.function = function
    }
}

/// What to render: a frame (1-based), an optional explicit window, an optional viewport to fit.
public struct RenderRequest: Sendable, Equatable {
    public var frame: Int
    public var window: Window?
    public var viewport: (width: Int, height: Int)?
    public var format: ImageFormat

    public init(frame: Int = 1, window: Window? = nil, viewport: (width: Int, height: Int)? = nil, format: ImageFormat = .png) {
        self.frame = frame
        self.window = window
        self.viewport = viewport
        self.format = format
    }

    public static func == (a: RenderRequest, b: RenderRequest) -> Bool {
        a.frame == b.frame && a.window == b.window && a.format == b.format
            && a.viewport?.width == b.viewport?.width && a.viewport?.height == b.viewport?.height
    }
}

/// The VOI transformation a rendering applied (PS3.4 N.2.1.1 order: the request's window, else the
/// file's first window, else its first VOI LUT, else a window over the frame's values).
public enum AppliedVOI: Sendable, Equatable {
    /// A colour image: no VOI.
    case none
    case requestWindow(Window)
    case fileWindow(Window)
    case fileLUT
    case minMaxWindow(Window)

    public var window: Window? {
        switch self {
        case .requestWindow(let w), .fileWindow(let w), .minMaxWindow(let w): w
        case .none, .fileLUT: nil
        }
    }

    /// How the record of a derived image names it.
    public var source: String {
        switch self {
        case .none: "none"
        case .requestWindow: "request"
        case .fileWindow: "file-window"
        case .fileLUT: "file-voi-lut"
        case .minMaxWindow: "min-max"
        }
    }
}

/// A rendered frame and what produced it.
public struct RenderedImage: Sendable {
    public let bytes: [UInt8]
    public let voi: AppliedVOI
    /// Size of the source image (before any viewport scaling), and its number of frames.
    public let columns: Int
    public let rows: Int
    public let frames: Int
    /// Size of the result (the viewport fit).
    public let outputColumns: Int
    public let outputRows: Int

    /// The pixels of an `.rgb8` render as an image.
    public var rgbImage: RGBImage { RGBImage(columns: outputColumns, rows: outputRows, pixels: bytes) }
}

/// An image that could not be rendered or decoded.
public struct ImagingError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Rendering and frame decoding through DCMTK's image toolkit (the engine of `dcmj2pnm`).
/// Calls block; they are safe from several threads at once.
public enum Renderer {
    static func initialize() throws(ImagingError) {
        var error = [CChar](repeating: 0, count: 256)
        guard loupe_dcmtk_initialize(LOUPE_LOG_ERROR, &error, error.count) == 0 else {
            throw ImagingError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    /// Renders one frame of a stored instance as PNG or JPEG (8-bit).
    public static func render(file: URL, _ request: RenderRequest) throws(ImagingError) -> RenderedImage {
        try initialize()
        guard request.frame >= 1 else { throw ImagingError("frame numbers start at 1") }
        var error = [CChar](repeating: 0, count: 256)
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var info = loupe_render_info()
        let status = file.path.withCString { path in
            var c = loupe_render_request()
            c.file_path = path
            c.frame = UInt32(request.frame - 1)
            if let window = request.window {
                c.has_window = 1
                c.window_center = window.center
                c.window_width = window.width
                c.voi_function = switch window.function {
                case .linear: LOUPE_VOI_LINEAR
                case .linearExact: LOUPE_VOI_LINEAR_EXACT
                case .sigmoid: LOUPE_VOI_SIGMOID
                }
            }
            if let viewport = request.viewport {
                c.viewport_width = UInt32(max(0, viewport.width))
                c.viewport_height = UInt32(max(0, viewport.height))
            }
            switch request.format {
            case .png: c.format = LOUPE_IMAGE_PNG
            case .jpeg(let quality):
                c.format = LOUPE_IMAGE_JPEG
                c.quality = Int32(quality)
            case .rgb8: c.format = LOUPE_IMAGE_RGB8
            }
            return loupe_render(&c, &output, &length, &info, &error, error.count)
        }
        let bytes = try take(status, output, length, error)
        let window = Window(center: info.window_center, width: info.window_width, function: info.sigmoid != 0 ? .sigmoid : .linear)
        let voi: AppliedVOI = switch info.voi_source {
        case LOUPE_VOI_SOURCE_REQUEST: .requestWindow(request.window ?? window)
        case LOUPE_VOI_SOURCE_FILE_WINDOW: .fileWindow(window)
        case LOUPE_VOI_SOURCE_FILE_LUT: .fileLUT
        case LOUPE_VOI_SOURCE_MIN_MAX: .minMaxWindow(window)
        default: .none
        }
        return RenderedImage(bytes: bytes, voi: voi, columns: Int(info.columns), rows: Int(info.rows), frames: Int(info.frames),
                             outputColumns: Int(info.output_columns), outputRows: Int(info.output_rows))
    }

    /// The native bytes (little endian) of one frame (1-based), decoding compressed pixel data.
    /// Returns the bytes and the photometric interpretation they are in.
    public static func decodeFrame(file: URL, frame: Int) throws(ImagingError) -> (bytes: [UInt8], photometricInterpretation: String) {
        try initialize()
        guard frame >= 1 else { throw ImagingError("frame numbers start at 1") }
        var error = [CChar](repeating: 0, count: 256)
        var model = [CChar](repeating: 0, count: 64)
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        let status = loupe_decode_frame(file.path, UInt32(frame - 1), &output, &length, &model, model.count, &error, error.count)
        let bytes = try take(status, output, length, error)
        return (bytes, String(decoding: model.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    private static func take(_ status: Int32, _ output: UnsafeMutablePointer<UInt8>?, _ length: Int,
                             _ error: [CChar]) throws(ImagingError) -> [UInt8] {
        guard status == 0, let output else {
            throw ImagingError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { loupe_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: length))
    }
}

/// Transfer syntax conversion of stored instances (decompression through DCMTK's codecs).
public enum Transcoder {
    /// The instance as a Part-10 file in `transferSyntaxUID`.
    public static func transcode(file: URL, to transferSyntaxUID: String) throws(ImagingError) -> [UInt8] {
        try Renderer.initialize()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-transcode-\(UUID().uuidString).dcm")
        defer { try? FileManager.default.removeItem(at: output) }
        var error = [CChar](repeating: 0, count: 256)
        guard loupe_transcode(file.path, transferSyntaxUID, output.path, &error, error.count) == 0 else {
            throw ImagingError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        do {
            return try Array(Data(contentsOf: output))
        } catch {
            throw ImagingError("cannot read the converted file: \(error)")
        }
    }
}
