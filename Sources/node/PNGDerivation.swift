import Archive
import DICOM
import Foundation
import Imaging

/// The derived PNG of every image: frame 1, 8-bit, rendered by DCMTK with the file's own VOI
/// (first window, else first VOI LUT, else min/max), as `dcmj2pnm +on -il` would.
struct PNGDerivation: ImageDerivationProcessor {
    let name = "png"

    /// What the index records with the PNG (`/api/imageinfo` shows it).
    struct Parameters: Encodable {
        let frame: Int
        let voi: String
        let windowCenter: Double?
        let windowWidth: Double?
        let voiLUTFunction: String?
        let rescaleSlope: Double
        let rescaleIntercept: Double
        let photometricInterpretation: String?
        let columns: Int
        let rows: Int
        let numberOfFrames: Int
    }

    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let (instance, header) = (image.input, image.header)
        let rendered: RenderedImage
        do {
            rendered = try Renderer.render(file: instance.fileURL, RenderRequest(frame: 1, format: .png))
        } catch {
            throw DerivationFailure("cannot render: \(error)")
        }
        let window = rendered.voi.window
        let parameters = Parameters(
            frame: 1, voi: rendered.voi.source, windowCenter: window?.center, windowWidth: window?.width,
            voiLUTFunction: window?.function.rawValue, rescaleSlope: header.double(.rescaleSlope) ?? 1,
            rescaleIntercept: header.double(.rescaleIntercept) ?? 0,
            photometricInterpretation: header.string(.photometricInterpretation),
            columns: rendered.columns, rows: rendered.rows, numberOfFrames: rendered.frames)
        do {
            return .derived([try DerivedFile(kind: "png", fileExtension: "png", bytes: rendered.bytes, parameters: parameters)])
        } catch {
            throw DerivationFailure("cannot record the parameters: \(error)", permanent: true)
        }
    }
}
