import Foundation

/// Where each frame of an instance's pixel data lies in its file, found from a header-only read
/// (PS3.5 8.2 for native data, A.4 for encapsulated data), so that one frame is served without
/// reading the others.
public struct PixelDataFrames: Sendable {
    public enum Location: Sendable, Equatable {
        /// Native pixel data: the frame's bytes (in file byte order).
        case native(Range<Int>)
        /// Encapsulated pixel data: the fragments that make up the frame.
        case fragments([Range<Int>])
        /// Native data whose frames are not byte-aligned (Bits Allocated 1): bit offset and count.
        case bits(offset: Int, count: Int, within: Range<Int>)
    }

    public let transferSyntax: TransferSyntax
    public let locations: [Location]
    /// Native 16-bit (or wider) words stored big endian; served little endian.
    public let swapWords: Int?
    /// Where the Pixel Data value starts: big endian words are counted from there.
    let valueStart: Int

    public var count: Int { locations.count }

    /// Reads the layout from a file read with `verifyRemainder` (e.g. `ReadOptions.headerOnly`) and
    /// the file's contents (for offset tables and codestream markers).
    public init(file: DICOMFile, contents data: Data) throws(DICOMError) {
        guard let pixels = file.skippedElements.first(where: { $0.tag == .pixelData }) else {
            throw DICOMError.unsupported("the instance has no pixel data")
        }
        guard !file.transferSyntax.isDeflated else {
            throw DICOMError.unsupported("frames of deflated data sets are not located")
        }
        let ds = file.dataSet
        let frames = max(1, ds.integer(.numberOfFrames) ?? 1)
        transferSyntax = file.transferSyntax
        valueStart = pixels.valueRange.lowerBound
        if !pixels.isEncapsulated {
            let rows = ds.integer(.rows) ?? 0, columns = ds.integer(.columns) ?? 0
            let samples = ds.integer(.samplesPerPixel) ?? 1, bits = ds.integer(.bitsAllocated) ?? 0
            // Bounded before any arithmetic: the values are a stranger's (US and IS values), and their
            // product must neither overflow nor allocate (Number of Frames counts no bytes).
            guard (1...65535).contains(rows), (1...65535).contains(columns), (1...64).contains(bits), (1...4).contains(samples) else {
                throw DICOMError.malformed(offset: pixels.valueRange.lowerBound,
                                           "Rows, Columns, Samples per Pixel or Bits Allocated missing or out of range")
            }
            let subsampled = ds.string(.photometricInterpretation)?.hasPrefix("YBR_FULL_422") == true
            let frameBits = rows * columns * (subsampled ? 2 : samples) * bits
            let start = pixels.valueRange.lowerBound
            let (allBits, overflow) = frameBits.multipliedReportingOverflow(by: frames)
            guard !overflow, allBits <= pixels.valueRange.count * 8 else {
                throw DICOMError.malformed(offset: start, "Pixel Data is shorter than \(frames) frames of \(rows)×\(columns)")
            }
            if frameBits % 8 == 0 {
                let size = frameBits / 8
                locations = (0..<frames).map { .native((start + $0 * size)..<(start + ($0 + 1) * size)) }
            } else {
                locations = (0..<frames).map { .bits(offset: $0 * frameBits, count: frameBits, within: pixels.valueRange) }
            }
            // Big endian: samples wider than a byte are swapped by their size; 8-bit samples in an
            // OW value by its 16-bit words.
            swapWords = pixels.bigEndian ? (bits > 8 ? bits / 8 : (pixels.vr == .OW ? 2 : nil)) : nil
            return
        }
        swapWords = nil
        locations = try Self.encapsulatedFrames(pixels.fragmentRanges, frames: frames, dataSet: ds, data: data)
    }

    /// Groups fragments into frames: Extended Offset Table, one fragment per frame, Basic Offset
    /// Table, a single frame, or — failing those — frame starts recognised by their codestream marker.
    static func encapsulatedFrames(_ items: [Range<Int>], frames: Int, dataSet ds: DataSet, data: Data) throws(DICOMError) -> [Location] {
        guard let table = items.first else { throw DICOMError.malformed(offset: 0, "encapsulated pixel data without items") }
        let fragments = Array(items.dropFirst())
        guard !fragments.isEmpty else { throw DICOMError.malformed(offset: table.lowerBound, "encapsulated pixel data without fragments") }
        // Offsets in the offset tables count from the first fragment's item tag (8 bytes before its value).
        let origin = fragments[0].lowerBound - 8
        func group(byItemOffsets offsets: [Int]) throws(DICOMError) -> [Location] {
            var result: [Location] = []
            for (i, offset) in offsets.enumerated() {
                let end = i + 1 < offsets.count ? offsets[i + 1] : Int.max
                let members = fragments.filter { ($0.lowerBound - 8 - origin) >= offset && ($0.lowerBound - 8 - origin) < end }
                guard !members.isEmpty else { throw DICOMError.malformed(offset: origin, "an offset table points between fragments") }
                result.append(.fragments(members))
            }
            return result
        }
        if let extended = ds[Tag(0x7FE0, 0x0001)]?.bytes, extended.count == frames * 8 {
            let offsets = extended.withUnsafeBytes { raw in (0..<frames).map { Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) } }
            return try group(byItemOffsets: offsets)
        }
        if fragments.count == frames { return fragments.map { .fragments([$0]) } }
        if frames == 1 { return [.fragments(fragments)] }
        func bytes(_ range: Range<Int>) -> [UInt8] {
            guard range.upperBound <= data.count else { return [] }
            return [UInt8](data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)])
        }
        if table.count == frames * 4 {
            let raw = bytes(table)
            let offsets = raw.withUnsafeBytes { buffer -> [Int] in
                (0..<frames).map { Int(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            return try group(byItemOffsets: offsets)
        }
        // No table: a frame starts with a JPEG SOI, a JPEG 2000 codestream or a JP2 signature box.
        let starts = fragments.indices.filter { i in
            let head = bytes(fragments[i].lowerBound..<min(fragments[i].upperBound, fragments[i].lowerBound + 8))
            return head.starts(with: [0xFF, 0xD8]) || head.starts(with: [0xFF, 0x4F, 0xFF, 0x51])
                || head.starts(with: [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20])
        }
        guard starts.count == frames, starts.first == 0 else {
            throw DICOMError.unsupported("\(fragments.count) fragments for \(frames) frames, no offset table, no recognisable frame starts")
        }
        return starts.enumerated().map { i, start in
            let end = i + 1 < starts.count ? starts[i + 1] : fragments.count
            return .fragments(Array(fragments[start..<end]))
        }
    }

    /// The bytes of frame `number` (1-based) from the file's contents.
    public func frame(_ number: Int, in data: Data) throws(DICOMError) -> [UInt8] {
        guard number >= 1, number <= locations.count else {
            throw DICOMError.unsupported("frame \(number) does not exist (the instance has \(locations.count))")
        }
        func slice(_ range: Range<Int>) throws(DICOMError) -> [UInt8] {
            guard range.upperBound <= data.count else { throw DICOMError.truncated(offset: data.count, "frame data beyond the end of the file") }
            return [UInt8](data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)])
        }
        switch locations[number - 1] {
        case .native(let range):
            guard let width = swapWords else { return try slice(range) }
            // Swap whole words of the value, then cut the frame out: a frame need not start or end on a word.
            let lower = valueStart + (range.lowerBound - valueStart) / width * width
            let upper = min(valueStart + (range.upperBound - valueStart + width - 1) / width * width, data.count)
            var words = try slice(lower..<upper)
            Parser.swapWords(&words, width: width)
            return Array(words[(range.lowerBound - lower)..<(range.upperBound - lower)])
        case .fragments(let ranges):
            var bytes: [UInt8] = []
            for range in ranges { bytes += try slice(range) }
            return bytes
        case .bits(let offset, let count, let within):
            let source = try slice(within)
            var out = [UInt8](repeating: 0, count: (count + 7) / 8)
            for i in 0..<count {
                let bit = offset + i
                // Bits Allocated 1: pixels fill each byte from its least significant bit (PS3.5 8.1.1).
                if source[bit / 8] & (1 << (bit % 8)) != 0 { out[i / 8] |= 1 << (i % 8) }
            }
            return out
        }
    }
}
