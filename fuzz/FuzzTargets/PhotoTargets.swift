import DICOM
import Imaging

/// Uploaded pictures: a photo posted for analysis keeps its JPEG bytes when their markers allow
/// (JPEGStructure → Secondary Capture pixels), a similarity upload is decoded to RGB (libpng,
/// libjpeg-turbo). Decoded images must hold exactly rows × columns × 3 bytes; a stream kept as it is
/// must have the size its markers declare.
enum PhotoTargets {
    static func jpeg(_ bytes: [UInt8]) -> FuzzOutcome {
        do {
            let structure = try JPEGStructure(bytes)
            switch try PhotoCapture.pixels(bytes) {
            case .rgb(let columns, let rows, let pixels), .rgbFromJPEG(let columns, let rows, let pixels):
                precondition(pixels.count == columns * rows * 3, "RGB pixels of the wrong size")
            case .jpegBaseline(let stream, let columns, let rows, _, _):
                precondition(stream == bytes && columns == structure.columns && rows == structure.rows,
                             "a kept JPEG stream that is not the one sent, or not of its declared size")
            }
            return .accepted
        } catch {
            return FuzzOutcome(error)
        }
    }

    static func photo(_ bytes: [UInt8]) -> FuzzOutcome {
        do {
            let image = try PhotoDecoder.decode(bytes)  // with the bound a similarity upload has
            precondition(image.pixels.count == image.rows * image.columns * 3, "decoded RGB of the wrong size")
            return .accepted
        } catch {
            return FuzzOutcome(error)
        }
    }
}
