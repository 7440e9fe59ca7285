import DICOM
import Foundation
import Imaging
import LoupeTestSupport
import Testing

@Suite struct RendererTests {
    @Test func rendersCTAsPNGAtNativeSize() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm"))
        let png = try Renderer.render(file: file, RenderRequest(window: Window(center: 40, width: 400), format: .png))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let header = try DICOMReader.read(contentsOf: file, options: .headerOnly).dataSet
        let width = Int(png[16]) << 24 | Int(png[17]) << 16 | Int(png[18]) << 8 | Int(png[19])
        #expect(width == header.integer(.columns))
    }

    @Test func windowChangesThePixels() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm"))
        let narrow = try Renderer.render(file: file, RenderRequest(window: Window(center: 40, width: 80)))
        let wide = try Renderer.render(file: file, RenderRequest(window: Window(center: 40, width: 2000)))
        #expect(narrow != wide)
    }

    @Test func decodesJPEGFrames() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm"))
        let header = try DICOMReader.read(contentsOf: file, options: .headerOnly).dataSet
        let (bytes, model) = try Renderer.decodeFrame(file: file, frame: 1)
        #expect(bytes.count == header.integer(.rows)! * header.integer(.columns)! * 3)
        #expect(model.hasPrefix("RGB") || model.hasPrefix("YBR"))
    }

    @Test func decodesLosslessJPEG2000ToTheUncompressedPixels() throws {
        let compressed = URL(fileURLWithPath: try pydicomTestFile("MR_small_jp2klossless.dcm"))
        let native = try DICOMReader.read(contentsOf: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm"))).dataSet
        let (bytes, model) = try Renderer.decodeFrame(file: compressed, frame: 1)
        #expect(model == "MONOCHROME2")
        #expect(bytes == native[.pixelData]?.bytes)
        let png = try Renderer.render(file: compressed, RenderRequest(format: .png))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    @Test func refusesCorruptJPEG2000WithAMessage() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("JPEG2000-embedded-sequence-delimiter.dcm"))
        #expect { try Renderer.decodeFrame(file: file, frame: 1) } throws: { error in
            "\(error)".contains("JPEG 2000")
        }
    }

    @Test func refusesWhatItCannot() {
        #expect(throws: ImagingError.self) { try Renderer.render(file: URL(fileURLWithPath: "/nonexistent.dcm"), RenderRequest()) }
        #expect(throws: ImagingError.self) {
            try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm")), RenderRequest(frame: 5))
        }
    }

    @Test func transcodesJPEGToExplicitLittleEndian() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm"))
        let converted = try DICOMReader.read(Transcoder.transcode(file: file, to: "1.2.840.10008.1.2.1"))
        #expect(converted.transferSyntax == .explicitVRLittleEndian)
        #expect(converted.dataSet[.pixelData]?.bytes.isEmpty == false)
    }
}
