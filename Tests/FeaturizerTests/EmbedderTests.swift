import Featurizer
import Foundation
import Imaging
import LoupeTestSupport
import Testing

@Suite struct EmbedderTests {
    static func embedder() throws -> Embedder {
        Embedder(network: try #require(EfficientNetTests.network, "model weights missing: run `make model`"))
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func rendersFitsAndNormalises() throws {
        let embedder = try Self.embedder()
        let ct = URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm"))
        let vector = try embedder.embed(file: ct)
        #expect(vector.count == EfficientNetLite0.featureCount)
        #expect(abs(Self.cosine(vector, vector) - 1) < 1e-4)
        #expect(try embedder.embed(file: ct) == vector)
        // The 128×128 CT is scaled up to fill the 224 canvas.
        let fitted = try Renderer.render(file: ct, RenderRequest(viewport: (224, 224), format: .rgb8))
        #expect(fitted.outputColumns == 224 && fitted.outputRows == 224 && fitted.bytes.count == 224 * 224 * 3)
    }

    @Test func similarImagesAreCloserThanUnrelatedOnes() throws {
        let embedder = try Self.embedder()
        let mr = try embedder.embed(file: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm")))
        let mrAgain = try embedder.embed(file: URL(fileURLWithPath: try pydicomTestFile("MR_small_jp2klossless.dcm")))
        let photo = try embedder.embed(file: URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm")))
        #expect(Self.cosine(mr, mrAgain) > 0.999)        // the same pixels, another transfer syntax
        #expect(Self.cosine(mr, photo) < 0.9)
    }

    @Test func refusesOversizedInput() throws {
        let embedder = try Self.embedder()
        #expect(throws: FeaturizerError.self) { try embedder.embed(view: RGBImage(columns: 300, rows: 10, pixels: [UInt8](repeating: 0, count: 300 * 10 * 3))) }
        #expect(throws: FeaturizerError.self) { try embedder.embed(file: URL(fileURLWithPath: "/nonexistent.dcm")) }
    }
}
