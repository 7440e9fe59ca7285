import DICOM
import Testing

/// Bounds on what a stranger's bytes may make the reader allocate.
@Suite struct LimitTests {
    /// 8 MB of zeros deflate to about 8 kB: a ratio of a thousand, as in a deflate bomb.
    static func bomb() throws -> [UInt8] {
        var ds = WriterTests.sample()
        ds.set(DataElement(tag: Tag(0x0009, 0x1010), vr: .OB, value: .bytes([UInt8](repeating: 0, count: 8 << 20))))
        return try DICOMWriter.encodeFile(ds, transferSyntax: .deflatedExplicitVRLittleEndian)
    }

    @Test func deflatedDataSetInflatingBeyondTheLimitIsRefused() throws {
        let bytes = try Self.bomb()
        #expect(bytes.count < 64 << 10)
        let error = #expect(throws: DICOMError.self) {
            try DICOMReader.read(bytes, options: ReadOptions(maximumInflatedBytes: 4 << 20))
        }
        #expect(error?.description.contains("inflates to more than 4 MB") == true)
        // Within the limit, the same file reads whole.
        let file = try DICOMReader.read(bytes, options: ReadOptions(maximumInflatedBytes: 16 << 20))
        #expect(file.dataSet[Tag(0x0009, 0x1010)]?.bytes.count == 8 << 20)
    }

    @Test func deflateStopsAtTheLimitExactly() throws {
        let input = [UInt8](repeating: 7, count: 100_000)
        let compressed = try Deflate.compress(input)
        #expect(try Deflate.decompress(compressed, maximumOutput: 100_000) == input)
        #expect(throws: DICOMError.self) { try Deflate.decompress(compressed, maximumOutput: 99_999) }
    }

    @Test func sequencesNestedDeeperThanTheLimitAreMalformed() throws {
        var ds = DataSet()
        for _ in 0..<100 { ds = DataSet([DataElement(tag: Tag(0x0040, 0xA730), items: [ds])]) }
        let bytes = try DICOMWriter.encode(ds)
        let error = #expect(throws: DICOMError.self) { try DICOMReader.readDataSet(bytes) }
        #expect(error.map { "\($0)".contains("malformed") } == true)
    }
}
