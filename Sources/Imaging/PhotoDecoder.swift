import CPNG
import CTurboJPEG
import Foundation

/// An 8-bit RGB image, interleaved, row by row.
public struct RGBImage: Sendable, Equatable {
    public let columns: Int
    public let rows: Int
    public let pixels: [UInt8]

    public init(columns: Int, rows: Int, pixels: [UInt8]) {
        self.columns = columns
        self.rows = rows
        self.pixels = pixels
    }
}

/// Why a PNG or JPEG could not be decoded.
public struct PhotoDecodingError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable {
        /// No bytes at all.
        case empty
        /// Neither a PNG nor a JPEG.
        case unsupported
        /// Truncated or corrupt.
        case corrupt
        /// More pixels (or bytes) than Loupe takes.
        case tooLarge
    }

    public let reason: Reason
    public let description: String

    public init(_ reason: Reason, _ description: String) {
        self.reason = reason
        self.description = description
    }
}

/// Decodes PNG (libpng) and JPEG (libjpeg-turbo) images, as clients send them, to RGB:
/// grey is replicated, alpha is composited on black, CMYK is converted.
public enum PhotoDecoder {
    /// Images larger than this many pixels are refused (a decompression bomb guard).
    public static let maximumPixels = 100_000_000

    public static func decode(_ bytes: [UInt8], maximumPixels: Int = maximumPixels) throws(PhotoDecodingError) -> RGBImage {
        guard !bytes.isEmpty else { throw PhotoDecodingError(.empty, "the image is empty (0 bytes)") }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try decodePNG(bytes, maximumPixels: maximumPixels) }
        if bytes.starts(with: [0xFF, 0xD8]) { return try decodeJPEG(bytes, maximumPixels: maximumPixels) }
        throw PhotoDecodingError(.unsupported, "neither a PNG nor a JPEG image")
    }

    static func decodePNG(_ bytes: [UInt8], maximumPixels: Int) throws(PhotoDecodingError) -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        func failure(_ what: String) -> PhotoDecodingError {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return PhotoDecodingError(.corrupt, "\(what) PNG: \(message)")
        }
        guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else {
            throw failure("unreadable")
        }
        guard Int(image.width) * Int(image.height) <= maximumPixels else {
            throw PhotoDecodingError(.tooLarge, "PNG of \(image.width)×\(image.height) pixels is too large")
        }
        image.format = png_uint_32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 3)
        var black = png_color(red: 0, green: 0, blue: 0)
        guard png_image_finish_read(&image, &black, &pixels, 0, nil) != 0 else { throw failure("corrupt") }
        return RGBImage(columns: Int(image.width), rows: Int(image.height), pixels: pixels)
    }

    static func decodeJPEG(_ bytes: [UInt8], maximumPixels: Int) throws(PhotoDecodingError) -> RGBImage {
        guard let handle = tjInitDecompress() else { throw PhotoDecodingError(.corrupt, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        func failure(_ what: String) -> PhotoDecodingError {
            PhotoDecodingError(.corrupt, "\(what) JPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw failure("unreadable")
        }
        guard Int(width) * Int(height) <= maximumPixels else {
            throw PhotoDecodingError(.tooLarge, "JPEG of \(width)×\(height) pixels is too large")
        }
        // Huffman coding spends at least a bit on every 8×8 block. A shorter stream is cut short, and
        // decoding it anyway would make a large image out of almost nothing (a fuzzer's 612 bytes
        // declaring 10240×4352 took half a second each).
        let blocks = ((Int(width) + 7) / 8) * ((Int(height) + 7) / 8)
        if let frame = try? JPEGStructure(bytes), !(0xC9...0xCF).contains(frame.frameMarker), bytes.count < blocks / 8 {
            throw PhotoDecodingError(.corrupt, "a JPEG of \(width)×\(height) pixels cannot fit in \(bytes.count) bytes: it is cut short")
        }
        let count = Int(width) * Int(height)
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            // Print-ready CMYK (as Photoshop writes it, inverted: 255 is no ink): RGB = (C, M, Y) · K / 255.
            var cmyk = [UInt8](repeating: 0, count: count * 4)
            guard tjDecompress2(handle, bytes, UInt(bytes.count), &cmyk, width, 0, height, Int32(TJPF_CMYK.rawValue), TJFLAG_ACCURATEDCT) == 0 else {
                throw failure("corrupt")
            }
            var pixels = [UInt8](repeating: 0, count: count * 3)
            for i in 0..<count {
                let k = UInt16(cmyk[4 * i + 3])
                for c in 0..<3 { pixels[3 * i + c] = UInt8((UInt16(cmyk[4 * i + c]) * k + 127) / 255) }
            }
            return RGBImage(columns: Int(width), rows: Int(height), pixels: pixels)
        }
        var pixels = [UInt8](repeating: 0, count: count * 3)
        guard tjDecompress2(handle, bytes, UInt(bytes.count), &pixels, width, 0, height, Int32(TJPF_RGB.rawValue), TJFLAG_ACCURATEDCT) == 0 else {
            throw failure("corrupt")
        }
        return RGBImage(columns: Int(width), rows: Int(height), pixels: pixels)
    }
}
