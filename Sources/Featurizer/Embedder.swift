import DICOM
import Foundation
import Imaging

/// Image → embedding: the image's view (frame 1 rendered by DCMTK with the file's own VOI, scaled
/// to fit 224×224) centred on black, EfficientNet-Lite0's pooled 1280 features, L2-normalised so
/// that inner product is cosine similarity.
public struct Embedder: Sendable {
    public let network: EfficientNetLite0
    /// Names the weights the vectors come from; stored with each vector.
    public let modelID: String

    public init(network: EfficientNetLite0, modelID: String = "efficientnet-lite0/imagenet") {
        self.network = network
        self.modelID = modelID
    }

    /// The unit-length embedding of frame `frame` of a stored image.
    public func embed(file: URL, frame: Int = 1) throws(FeaturizerError) -> [Float] {
        try embed(view: Self.view(file: file, frame: frame))
    }

    /// The unit-length embedding of a decoded picture (a PNG or JPEG query, a photo).
    public func embed(image: RGBImage) throws(FeaturizerError) -> [Float] {
        try embed(view: Self.view(image: image))
    }

    /// Frame `frame` of a stored image as the network sees it: rendered by DCMTK with the file's own
    /// VOI (as the derived PNG), scaled to fit 224×224 with its aspect kept.
    public static func view(file: URL, frame: Int = 1) throws(FeaturizerError) -> RGBImage {
        let size = EfficientNetLite0.inputSize
        do {
            let rendered = try Renderer.render(file: file, RenderRequest(frame: frame, viewport: (size, size), format: .rgb8))
            return rendered.rgbImage
        } catch {
            throw FeaturizerError("cannot render \(file.lastPathComponent): \(error)")
        }
    }

    /// A decoded picture as the network sees it, through the very path of stored images: wrapped
    /// as a Secondary Capture file and rendered by DCMTK. (The network is sensitive to how a small
    /// image is scaled up: bilinear against DCMTK's scaling moves a 64×64 MR's embedding to cosine
    /// 0.7 of itself.)
    public static func view(image: RGBImage) throws(FeaturizerError) -> RGBImage {
        guard image.columns <= 65_535, image.rows <= 65_535 else {
            throw FeaturizerError("a \(image.columns)×\(image.rows) image is larger than DICOM can hold")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-embed-\(UUID().uuidString).dcm")
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            let dataSet = SecondaryCapture.rgb(columns: image.columns, rows: image.rows, pixels: image.pixels)
            try Data(DICOMWriter.encodeFile(dataSet)).write(to: file)
        } catch {
            throw FeaturizerError("cannot stage the image for rendering: \(error)")
        }
        return try view(file: file)
    }

    /// The unit-length embedding of a view (RGB, at most 224×224), centred on a black 224×224 canvas.
    public func embed(view: RGBImage) throws(FeaturizerError) -> [Float] {
        Self.unit(try features(view: view))
    }

    /// One pass of the network over a view (RGB, at most 224×224) centred on a black 224×224 canvas:
    /// the embedding and what the network's ImageNet head makes of the view.
    public func pass(view: RGBImage) throws(FeaturizerError) -> NetworkPass {
        let features = try features(view: view)
        return NetworkPass(embedding: Self.unit(features), logits: network.logits(features: features),
                           featureNorm: Self.length(features))
    }

    /// The pooled features (before normalisation) of a view centred on a black 224×224 canvas.
    private func features(view: RGBImage) throws(FeaturizerError) -> [Float] {
        let size = EfficientNetLite0.inputSize
        let (columns, rows, rgb) = (view.columns, view.rows, view.pixels)
        guard columns >= 1, rows >= 1, columns <= size, rows <= size, rgb.count == columns * rows * 3 else {
            throw FeaturizerError("expected at most \(size)×\(size) RGB pixels, got \(columns)×\(rows) (\(rgb.count) bytes)")
        }
        var canvas = [UInt8](repeating: 0, count: size * size * 3)
        let left = (size - columns) / 2, top = (size - rows) / 2
        for y in 0..<rows {
            let source = y * columns * 3, target = ((top + y) * size + left) * 3
            canvas[target..<(target + columns * 3)] = rgb[source..<(source + columns * 3)]
        }
        return try network.features(rgb: canvas)
    }

    private static func length(_ vector: [Float]) -> Float { vector.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    private static func unit(_ vector: [Float]) -> [Float] {
        let norm = length(vector)
        return norm > 0 ? vector.map { $0 / norm } : vector
    }
}

/// What one pass of the network says about an image's view.
public struct NetworkPass: Sendable {
    /// The pooled features, unit length: inner product is cosine similarity.
    public let embedding: [Float]
    /// The ImageNet head's logits (of the features before normalisation).
    public let logits: [Float]
    /// The length of the pooled features before normalisation: how strongly the network responds.
    public let featureNorm: Float

    public init(embedding: [Float], logits: [Float], featureNorm: Float) {
        self.embedding = embedding
        self.logits = logits
        self.featureNorm = featureNorm
    }

    /// log p of each ImageNet class, floored at log 1e-9 (a class the network rules out entirely
    /// says no more than one it all but rules out).
    public var logProbabilities: [Float] {
        let top = logits.max() ?? 0
        let logTotal = log(logits.reduce(0) { $0 + exp($1 - top) })
        return logits.map { max($0 - top - logTotal, Self.logProbabilityFloor) }
    }

    public static let logProbabilityFloor = Float(log(1e-9))
}
