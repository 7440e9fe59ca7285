import DICOM
import Foundation
import Imaging
import LoupeTestSupport
import Testing

@Suite struct PhotoCaptureTests {
    /// The JPEG stream of one of pydicom's JPEG Baseline files.
    static func stream(_ name: String) throws -> [UInt8] {
        let file = try DICOMReader.read(contentsOf: URL(fileURLWithPath: try pydicomTestFile(name)))
        guard case .fragments(_, let fragments)? = file.dataSet[.pixelData]?.value else { throw DICOMError.unsupported("\(name) is not encapsulated") }
        return fragments.reduce([], +)
    }

    @Test func readsTheFrameHeaderOfRealStreams() throws {
        let subsampled = try JPEGStructure(try Self.stream("SC_rgb_dcmtk_+eb+cy+s2.dcm"))
        #expect(subsampled.frameMarker == 0xC0 && subsampled.precision == 8 && subsampled.columns == 100 && subsampled.rows == 100)
        #expect(subsampled.components.count == 3 && subsampled.subsampling == .horizontal && !subsampled.isRGB)
        #expect(try JPEGStructure(try Self.stream("SC_rgb_dcmtk_+eb+cy+s4.dcm")).subsampling == .none)
        #expect(try JPEGStructure(try Self.stream("SC_rgb_dcmtk_+eb+cr.dcm")).isRGB)
        #expect(throws: JPEGStructure.Malformed.self) { try JPEGStructure(Array("not a jpeg".utf8)) }
        #expect(throws: JPEGStructure.Malformed.self) { try JPEGStructure(Array(try Self.stream("SC_rgb_dcmtk_+eb+cy+s2.dcm").prefix(20))) }
    }

    @Test func keepsBaselineStreamsItCanLabelAndDecodesTheRest() throws {
        let subsampled = try Self.stream("SC_rgb_dcmtk_+eb+cy+s2.dcm")
        #expect(try PhotoCapture.pixels(subsampled) == .jpegBaseline(stream: subsampled, columns: 100, rows: 100, samplesPerPixel: 3,
                                                                     photometricInterpretation: "YBR_FULL_422"))
        let rgb = try Self.stream("SC_rgb_dcmtk_+eb+cr.dcm")
        guard case .jpegBaseline(_, _, _, 3, "RGB") = try PhotoCapture.pixels(rgb) else {
            Issue.record("a JPEG without colour transform is kept as RGB")
            return
        }
        // Unsubsampled YCbCr has no photometric interpretation the SC IOD allows: decoded.
        let full = try Self.stream("SC_rgb_dcmtk_+eb+cy+s4.dcm")
        let decoded = try PhotoDecoder.decode(full)
        #expect(try PhotoCapture.pixels(full) == .rgbFromJPEG(columns: 100, rows: 100, pixels: decoded.pixels))
        let lossy = SecondaryCapture.image(try PhotoCapture.pixels(full))
        #expect(lossy.string(.lossyImageCompression) == "01" && lossy.string(.lossyImageCompressionMethod) == "ISO_10918_1")
    }

    @Test func aKeptStreamRendersInDCMTKWithTheColoursOfThePhoto() throws {
        let stream = try Self.stream("SC_rgb_dcmtk_+eb+cy+s2.dcm")
        let pixels = try PhotoCapture.pixels(stream)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-photo-\(UUID().uuidString).dcm")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(DICOMWriter.encodeFile(SecondaryCapture.image(pixels, modality: "XC"), transferSyntax: pixels.transferSyntax)).write(to: file)
        let rendered = try Renderer.render(file: file, RenderRequest(format: .rgb8))
        let photo = try PhotoDecoder.decode(stream)
        #expect(rendered.bytes.count == photo.pixels.count)
        let differences = zip(rendered.bytes, photo.pixels).map { abs(Int($0) - Int($1)) }
        // DCMTK's libjpeg and libjpeg-turbo may round chroma upsampling apart by a step or two.
        #expect(differences.max() ?? 255 <= 3)
        #expect(Double(differences.reduce(0, +)) / Double(differences.count) < 0.5)
    }

    @Test func turnsAPhotoUprightAsItsEXIFOrientationSays() throws {
        // A stream with an APP1 Exif segment (little-endian TIFF, IFD0: Orientation = 6) after SOI.
        let plain = try Self.stream("SC_rgb_dcmtk_+eb+cy+s2.dcm")
        let tiff: [UInt8] = [0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00,
                             0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        let segment = Array("Exif".utf8) + [0, 0] + tiff
        let length = segment.count + 2
        let turned = [0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + segment + plain.dropFirst(2)
        #expect(try JPEGStructure(turned).exifOrientation == 6)
        let decoded = try PhotoDecoder.decode(plain)
        #expect(try PhotoCapture.pixels(turned) == .rgbFromJPEG(columns: 100, rows: 100, pixels: decoded.oriented(exif: 6).pixels))
    }

    @Test func orientationsTurnAndFlipAsEXIFDefinesThem() {
        // 3 columns, 2 rows; pixel value = index.
        let image = RGBImage(columns: 3, rows: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })
        func red(_ image: RGBImage) -> [UInt8] { stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] } }
        #expect(red(image.oriented(exif: 1)) == [0, 1, 2, 3, 4, 5])
        #expect(red(image.oriented(exif: 2)) == [2, 1, 0, 5, 4, 3])
        #expect(red(image.oriented(exif: 3)) == [5, 4, 3, 2, 1, 0])
        #expect(red(image.oriented(exif: 4)) == [3, 4, 5, 0, 1, 2])
        let clockwise = image.oriented(exif: 6)  // the stored image turned 90° clockwise
        #expect(clockwise.columns == 2 && clockwise.rows == 3 && red(clockwise) == [3, 0, 4, 1, 5, 2])
        #expect(red(image.oriented(exif: 8)) == [2, 5, 1, 4, 0, 3])
        #expect(red(image.oriented(exif: 5)) == [0, 3, 1, 4, 2, 5])
        #expect(red(image.oriented(exif: 7)) == [5, 2, 4, 1, 3, 0])
        #expect(image.oriented(exif: 6).oriented(exif: 8) == image)
    }

    @Test func refusesPhotosThatCannotBeRead() throws {
        func reason(_ bytes: [UInt8]) -> PhotoDecodingError.Reason? {
            do { _ = try PhotoCapture.pixels(bytes); return nil } catch { return error.reason }
        }
        #expect(reason([]) == .empty)
        #expect(reason(Array("%PDF-1.4 not a photo".utf8)) == .unsupported)
        let stream = try Self.stream("SC_rgb_dcmtk_+eb+cy+s2.dcm")
        #expect(reason(Array(stream.prefix(stream.count / 2))) == .corrupt)
        #expect(reason([UInt8](repeating: 0xFF, count: PhotoCapture.maximumBytes + 1)) == .tooLarge)
    }
}
