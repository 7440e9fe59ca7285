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

    /// Rows, Columns, Samples per Pixel, Bits Allocated and Number of Frames are a stranger's values:
    /// frames are refused with an error, never by an arithmetic overflow that ends the process.
    @Test func hostileDimensionsAreRefusedWithoutOverflow() throws {
        let cases: [(rows: UInt16, columns: UInt16, samples: UInt16, bits: UInt16, frames: String)] = [
            (65535, 65535, 65535, 65535, "1"), (512, 512, 1, 16, "4611686018427387904"), (512, 512, 1, 16, "1e300"),
            (512, 512, 0, 16, "1"), (65535, 65535, 4, 64, "2147483647"),
        ]
        for c in cases {
            var ds = DataSet()
            ds.set(.sopClassUID, .UI, "1.2.840.10008.5.1.4.1.1.7")
            ds.set(.sopInstanceUID, .UI, "1.2.3.4")
            ds.set(DataElement(tag: .rows, uint16: [c.rows]))
            ds.set(DataElement(tag: .columns, uint16: [c.columns]))
            ds.set(DataElement(tag: .samplesPerPixel, uint16: [c.samples]))
            ds.set(DataElement(tag: .bitsAllocated, uint16: [c.bits]))
            ds.set(.numberOfFrames, .IS, c.frames)
            ds.set(.photometricInterpretation, .CS, "MONOCHROME2")
            ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes([1, 0, 2, 0, 3, 0, 4, 0])))
            let data = Data(try DICOMWriter.encodeFile(ds))
            #expect(throws: DICOMError.self, "\(c)") {
                try PixelDataFrames(file: DICOMReader.read(data, options: .headerOnly), contents: data)
            }
        }
    }

    /// IS values beyond an integer ("1e300", "nan") are no integer, rather than a trap converting them.
    @Test func integerStringsBeyondIntAreNone() {
        var ds = DataSet()
        for (value, expected) in [("1e300", nil), ("nan", nil), ("-inf", nil), ("-3.0", -3), ("42", 42)] as [(String, Int?)] {
            ds.set(.numberOfFrames, .IS, value)
            #expect(ds.integer(.numberOfFrames) == expected, "\(value)")
        }
    }
}
