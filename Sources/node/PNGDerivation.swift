import Archive
import DICOM
import Foundation
import Imaging

/// An instance's header when it holds an image, else why it holds none (then processors skip it).
enum ImageHeader: Sendable {
    case image(DataSet)
    case none(String)

    static func read(_ instance: DerivationInput) throws(DerivationFailure) -> ImageHeader {
        guard instance.rows != nil, instance.columns != nil else { return .none("no image pixel data") }
        let file: DICOMFile
        do {
            file = try DICOMReader.read(contentsOf: instance.fileURL, options: .headerOnly)
        } catch {
            throw DerivationFailure("cannot read \(instance.fileURL.lastPathComponent): \(error)")
        }
        let pixelTags: Set<Tag> = [.pixelData, .floatPixelData, .doubleFloatPixelData]
        guard file.skippedElements.contains(where: { pixelTags.contains($0.tag) }) || pixelTags.contains(where: file.dataSet.contains) else {
            return .none("no pixel data")
        }
        return .image(file.dataSet)
    }
}

/// A processor of images: it gets the instance's header, read once for all of a claim's image
/// processors (instances without pixel data are skipped with the reason before it is called).
protocol ImageDerivationProcessor: DerivationProcessor {
    func derive(_ instance: DerivationInput, header: DataSet) throws(DerivationFailure) -> DerivationOutcome
}

extension ImageDerivationProcessor {
    func derive(_ instance: DerivationInput) throws(DerivationFailure) -> DerivationOutcome {
        switch try ImageHeader.read(instance) {
        case .none(let reason): return .skipped(reason)
        case .image(let header): return try derive(instance, header: header)
        }
    }
}

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

    func derive(_ instance: DerivationInput, header: DataSet) throws(DerivationFailure) -> DerivationOutcome {
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
