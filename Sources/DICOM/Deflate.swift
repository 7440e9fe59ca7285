import CZlib

/// Raw DEFLATE (RFC 1951): what Deflated Explicit VR Little Endian uses after the meta information,
/// and how the archive keeps its DICOM JSON documents small.
public enum Deflate {
    /// Decompresses a raw DEFLATE stream; throws once the output would exceed `maximumOutput`
    /// bytes (a stream of a megabyte can inflate to a gigabyte).
    public static func decompress(_ input: [UInt8], maximumOutput: Int = .max) throws -> [UInt8] {
        try input.withUnsafeBytes { try decompress($0, maximumOutput: maximumOutput) }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maximumOutput: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DICOMError.unsupported("zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(min(max(input.count * 4, 4096), maximumOutput))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        guard let base = input.baseAddress else { return [] }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            let status: Int32 = chunk.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress
                stream.avail_out = uInt(buf.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            guard produced <= maximumOutput - output.count else {
                let most = maximumOutput >= 1 << 20 ? "\(maximumOutput >> 20) MB" : "\(maximumOutput) bytes"
                throw DICOMError.unsupported("the deflated data set inflates to more than \(most), the most Loupe takes")
            }
            output.append(contentsOf: chunk[0..<produced])
            if status == Z_STREAM_END { break }
            if status == Z_BUF_ERROR && stream.avail_in == 0 {
                throw DICOMError.truncated(offset: input.count, "deflated data set ends early")
            }
            guard status == Z_OK else { throw DICOMError.malformed(offset: Int(stream.total_in), "deflated data set is corrupt") }
        }
        return output
    }

    /// Compresses to a raw DEFLATE stream; `fast` trades ratio for speed (level 1).
    public static func compress(_ input: [UInt8], fast: Bool = false) throws -> [UInt8] {
        try compress(input, level: fast ? 1 : Z_DEFAULT_COMPRESSION, windowBits: -MAX_WBITS)
    }

    /// Compresses to a gzip stream (RFC 1952), for HTTP `Content-Encoding: gzip`.
    public static func gzip(_ input: [UInt8], fast: Bool = true) throws -> [UInt8] {
        try compress(input, level: fast ? 1 : Z_DEFAULT_COMPRESSION, windowBits: MAX_WBITS + 16)
    }

    private static func compress(_ input: [UInt8], level: Int32, windowBits: Int32) throws -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY,
                             ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DICOMError.unsupported("zlib could not be initialised")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 16)
        var source = input
        let written: Int = source.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                _ = deflate(&stream, Z_FINISH)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<written])
    }
}
