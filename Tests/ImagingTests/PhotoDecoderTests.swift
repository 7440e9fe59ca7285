import DICOM
import Foundation
import Imaging
import LoupeTestSupport
import Testing

@Suite struct PhotoDecoderTests {
    @Test func greyPNGBecomesReplicatedRGB() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm"))
        let png = try Renderer.render(file: file, RenderRequest(format: .png))
        let rgb = try Renderer.render(file: file, RenderRequest(format: .rgb8))
        let decoded = try PhotoDecoder.decode(png.bytes)
        #expect(decoded.columns == 64 && decoded.rows == 64)
        #expect(decoded.pixels == rgb.bytes)   // the same pixels, grey in all three channels
        let p = decoded.pixels
        let grey = stride(from: 0, to: p.count, by: 3).allSatisfy { (i: Int) -> Bool in p[i] == p[i + 1] && p[i] == p[i + 2] }
        #expect(grey)
    }

    @Test func decodesAJPEGStream() throws {
        let file = try DICOMReader.read(contentsOf: URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm")))
        guard case .fragments(_, let fragments)? = file.dataSet[.pixelData]?.value else {
            Issue.record("no encapsulated pixel data")
            return
        }
        let decoded = try PhotoDecoder.decode(fragments[0])
        #expect(decoded.columns == file.dataSet.integer(.columns) && decoded.rows == file.dataSet.integer(.rows))
        #expect(decoded.pixels.count == decoded.columns * decoded.rows * 3)
        #expect(Set(decoded.pixels).count > 2)
    }

    @Test func refusesWhatIsNotAPicture() throws {
        let png = try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm")), RenderRequest(format: .png)).bytes
        for bytes in [Array("hello".utf8), Array(png.prefix(60)), [0xFF, 0xD8, 0xFF, 0x00]] {
            #expect(throws: PhotoDecodingError.self) { try PhotoDecoder.decode(bytes) }
        }
    }
}
