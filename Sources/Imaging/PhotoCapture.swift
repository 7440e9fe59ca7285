import DICOM
import Dispatch

/// A photo (PNG or JPEG, as a camera or phone sends it) → the pixels of a Secondary Capture image
/// with the photo's colours exactly: a JPEG Baseline stream is kept byte for byte with the
/// photometric interpretation its components call for; anything else (PNG, progressive or
/// 12-bit JPEG, unsubsampled YCbCr, a JPEG whose EXIF orientation asks for a turn) is decoded to
/// native RGB, upright.
/// Every photo is decoded in full first, so a truncated or corrupt one is refused.
public enum PhotoCapture {
    /// Photos larger than this are refused (a phone's photo is a few MB).
    public static let maximumBytes = 64 << 20
    /// Or with more pixels than this (a 50-megapixel camera's): decoded, one takes 150 MB.
    public static let maximumPixels = 50_000_000
    /// Photos decoded at once: more wait, so that a burst of large uploads cannot exhaust memory.
    static let decoding = DispatchSemaphore(value: 2)

    public static func pixels(_ bytes: [UInt8]) throws(PhotoDecodingError) -> SecondaryCapture.Pixels {
        guard bytes.count <= maximumBytes else {
            throw PhotoDecodingError(.tooLarge, "a photo of \(bytes.count) bytes is larger than the \(maximumBytes >> 20) MB Loupe takes")
        }
        decoding.wait()
        defer { decoding.signal() }
        var image = try PhotoDecoder.decode(bytes, maximumPixels: maximumPixels)
        guard image.columns <= 65_535, image.rows <= 65_535 else {
            throw PhotoDecodingError(.tooLarge, "a \(image.columns)×\(image.rows) photo is larger than DICOM's 65535×65535")
        }
        guard bytes.starts(with: [0xFF, 0xD8]) else { return .rgb(columns: image.columns, rows: image.rows, pixels: image.pixels) }
        let structure: JPEGStructure
        do { structure = try JPEGStructure(bytes) } catch { throw PhotoDecodingError(.corrupt, error.description) }
        if let kept = keptAsIs(bytes, structure) { return kept }
        if let orientation = structure.exifOrientation { image = image.oriented(exif: orientation) }
        return .rgbFromJPEG(columns: image.columns, rows: image.rows, pixels: image.pixels)
    }

    /// The stream as DICOM JPEG Baseline, when it is one and needs no turn.
    static func keptAsIs(_ bytes: [UInt8], _ jpeg: JPEGStructure) -> SecondaryCapture.Pixels? {
        guard jpeg.frameMarker == 0xC0, jpeg.precision == 8, (jpeg.exifOrientation ?? 1) == 1 else { return nil }
        let photometric: String
        switch jpeg.components.count {
        case 1:
            photometric = "MONOCHROME2"
        case 3 where jpeg.isRGB:
            photometric = "RGB"
        case 3:
            // Unsubsampled YCbCr would be YBR_FULL, which the Secondary Capture IOD does not allow.
            guard jpeg.subsampling == .horizontal || jpeg.subsampling == .both else { return nil }
            photometric = "YBR_FULL_422"
        default:
            return nil  // CMYK
        }
        return .jpegBaseline(stream: bytes, columns: jpeg.columns, rows: jpeg.rows, samplesPerPixel: jpeg.components.count,
                             photometricInterpretation: photometric)
    }
}

extension RGBImage {
    /// The image turned upright as its EXIF orientation (1–8, TIFF tag 0x0112) asks.
    public func oriented(exif orientation: Int) -> RGBImage {
        guard (2...8).contains(orientation) else { return self }
        let (w, h) = (columns, rows)
        let transposed = orientation >= 5
        let (outW, outH) = transposed ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: pixels.count)
        for v in 0..<outH {
            for u in 0..<outW {
                // The source pixel shown at (u, v).
                let (x, y): (Int, Int)
                switch orientation {
                case 2: (x, y) = (w - 1 - u, v)
                case 3: (x, y) = (w - 1 - u, h - 1 - v)
                case 4: (x, y) = (u, h - 1 - v)
                case 5: (x, y) = (v, u)
                case 6: (x, y) = (v, h - 1 - u)
                case 7: (x, y) = (w - 1 - v, h - 1 - u)
                default: (x, y) = (w - 1 - v, u)
                }
                let source = (y * w + x) * 3, target = (v * outW + u) * 3
                out[target] = pixels[source]
                out[target + 1] = pixels[source + 1]
                out[target + 2] = pixels[source + 2]
            }
        }
        return RGBImage(columns: outW, rows: outH, pixels: out)
    }
}
