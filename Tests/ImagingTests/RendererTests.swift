import DICOM
import Foundation
import Imaging
import LoupeTestSupport
import Testing

@Suite struct RendererTests {
    @Test func rendersCTAsPNGAtNativeSize() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm"))
        let png = try Renderer.render(file: file, RenderRequest(window: Window(center: 40, width: 400), format: .png)).bytes
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let header = try DICOMReader.read(contentsOf: file, options: .headerOnly).dataSet
        let width = Int(png[16]) << 24 | Int(png[17]) << 16 | Int(png[18]) << 8 | Int(png[19])
        #expect(width == header.integer(.columns))
    }

    @Test func windowChangesThePixels() throws {
        let file = URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm"))
        let narrow = try Renderer.render(file: file, RenderRequest(window: Window(center: 40, width: 80))).bytes
        let wide = try Renderer.render(file: file, RenderRequest(window: Window(center: 40, width: 2000))).bytes
        #expect(narrow != wide)
    }

    @Test func reportsTheVOIItApplied() throws {
        let mr = try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("MR_small.dcm")), RenderRequest())
        #expect(mr.voi == .fileWindow(Window(center: 600, width: 1600)))
        #expect(mr.columns == 64 && mr.rows == 64 && mr.frames == 1)
        // CT_small has no window: one over its modality values (-896 ... 1167).
        let ct = try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm")), RenderRequest())
        guard case .minMaxWindow(let window) = ct.voi else { Issue.record("\(ct.voi)"); return }
        #expect(abs(window.center - 135.5) <= 1 && abs(window.width - 2063) <= 1)
        let requested = Window(center: 40, width: 400)
        #expect(try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("CT_small.dcm")),
                                    RenderRequest(window: requested)).voi == .requestWindow(requested))
        let rgb = try Renderer.render(file: URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm")), RenderRequest())
        #expect(rgb.voi == .none)
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
        let png = try Renderer.render(file: compressed, RenderRequest(format: .png)).bytes
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
