import Archive
import DICOM
import Featurizer
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

/// What the image processors of one claim share, so that nothing is read or computed twice: the
/// header (read once), the network's view of frame 1 (rendered once, for the embedding and the
/// anomaly finding) and the network's pass over it that the `embedding` processor has just made.
/// Used by one worker thread at a time.
final class ImageContext {
    let input: DerivationInput
    let header: DataSet
    /// Set by the embedding processor for the processors after it, with the model it came from.
    var network: (model: String, pass: NetworkPass)?
    private var rendered: Result<RGBImage, FeaturizerError>?

    init(input: DerivationInput, header: DataSet) {
        self.input = input
        self.header = header
    }

    /// `Embedder.view(file:)` of the instance, rendered on first use.
    func view() throws(FeaturizerError) -> RGBImage {
        let view = rendered ?? Result { () throws(FeaturizerError) in try Embedder.view(file: input.fileURL) }
        rendered = view
        return try view.get()
    }
}

/// A processor of images: it gets the claim's `ImageContext` (instances without pixel data are
/// skipped with the reason before it is called).
protocol ImageDerivationProcessor: DerivationProcessor {
    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome
}

extension ImageDerivationProcessor {
    func derive(_ instance: DerivationInput) throws(DerivationFailure) -> DerivationOutcome {
        switch try ImageHeader.read(instance) {
        case .none(let reason): return .skipped(reason)
        case .image(let header): return try derive(ImageContext(input: instance, header: header))
        }
    }
}
