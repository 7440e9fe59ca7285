import DICOM
import Imaging

/// Uploaded pictures: a photo posted for analysis keeps its JPEG bytes when their markers allow
/// (JPEGStructure → Secondary Capture pixels), a similarity upload is decoded to RGB (libpng,
/// libjpeg-turbo). Decoded images must hold exactly rows × columns × 3 bytes.
enum PhotoTargets {
    static func jpeg(_ bytes: [UInt8]) -> FuzzOutcome {
        do {
            let structure = try JPEGStructure(bytes)
            precondition(structure.rows >= 0 && structure.columns >= 0, "negative JPEG dimensions")
            _ = try PhotoCapture.pixels(bytes)
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
