import DICOM
import Foundation
import Testing

@Suite struct PixelDataFramesTests {
    static func frames(_ name: String) throws -> [[UInt8]] {
        let data = try Data(contentsOf: PydicomReference.testFile(name))
        let layout = try PixelDataFrames(file: DICOMReader.read(data, options: .headerOnly), contents: data)
        return try (1...layout.count).map { try layout.frame($0, in: data) }
    }

    @Test func bigEndianFramesComeOutLittleEndianEvenAtOddSizes() throws {
        #expect(try Self.frames("SC_rgb_small_odd_big_endian.dcm") == Self.frames("SC_rgb_small_odd.dcm"))
        #expect(try Self.frames("MR_small_bigendian.dcm") == Self.frames("MR_small.dcm"))
    }

    @Test func nativeFramesSliceTheValue() throws {
        let file = try DICOMReader.read(contentsOf: PydicomReference.testFile("rtdose.dcm"))
        let frames = try Self.frames("rtdose.dcm")
        #expect(frames.count == file.dataSet.integer(.numberOfFrames))
        #expect(frames.flatMap { $0 } == Array(file.dataSet[.pixelData]!.bytes.prefix(frames.count * frames[0].count)))
    }

    @Test func encapsulatedFramesOnePerFragmentOrByOffsetTable() throws {
        let rle = try Self.frames("SC_rgb_rle_2frame.dcm")
        let file = try DICOMReader.read(contentsOf: PydicomReference.testFile("SC_rgb_rle_2frame.dcm"))
        guard case .fragments(_, let fragments)? = file.dataSet[.pixelData]?.value else { Issue.record("not encapsulated"); return }
        #expect(rle == fragments)
        let jpeg = try Self.frames("SC_rgb_jpeg_dcmtk.dcm")
        #expect(jpeg.count == 1)
        #expect(jpeg[0].starts(with: [0xFF, 0xD8]))
    }

    @Test func framesOutOfRangeAndDeflatedAreRefused() throws {
        let data = try Data(contentsOf: PydicomReference.testFile("CT_small.dcm"))
        let layout = try PixelDataFrames(file: DICOMReader.read(data, options: .headerOnly), contents: data)
        #expect(throws: DICOMError.self) { try layout.frame(2, in: data) }
        let deflated = try Data(contentsOf: PydicomReference.testFile("image_dfl.dcm"))
        #expect(throws: DICOMError.self) { try PixelDataFrames(file: DICOMReader.read(deflated, options: .headerOnly), contents: deflated) }
    }
}
