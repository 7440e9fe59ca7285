import Foundation

/// Turns value bytes (little endian) into Swift values.
enum ValueDecoding {
    /// Decodes and splits a string value; padding and insignificant spaces removed (PS3.5 6.2).
    static func strings(_ bytes: [UInt8], vr: VR, characterSet: SpecificCharacterSet) -> [String] {
        guard !bytes.isEmpty else { return [] }
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x00 || bytes[end - 1] == 0x20 { end -= 1 }
        let slice = bytes[0..<end]
        let text = vr.usesSpecificCharacterSet
            ? characterSet.decode(slice)
            : String(decoding: slice, as: UTF8.self)
        if vr.isSingleValuedText {
            return [text]
        }
        return text.splitAtBackslashes(omittingEmpty: false).map { $0.trimmingSpaces() }
    }

    static func integers(_ bytes: [UInt8], vr: VR) -> [Int]? {
        func read<T: FixedWidthInteger>(_: T.Type) -> [Int] {
            let size = MemoryLayout<T>.size
            return bytes.withUnsafeBytes { raw in
                (0..<(raw.count / size)).map { Int(T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self))) }
            }
        }
        switch vr {
        case .US: return read(UInt16.self)
        case .SS: return read(Int16.self)
        case .UL: return read(UInt32.self)
        case .SL: return read(Int32.self)
        case .SV: return read(Int64.self)
        case .UV: return bytes.withUnsafeBytes { raw in
                (0..<(raw.count / 8)).map { Int(truncatingIfNeeded: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            }
        case .IS, .DS:
            // "1e300", "inf", "nan" are no integer: nil, never a trap converting them.
            return strings(bytes, vr: vr, characterSet: .default).compactMap { Int($0) ?? Double($0).flatMap { Int(exactly: $0.rounded(.towardZero)) } }
        default: return nil
        }
    }

    static func doubles(_ bytes: [UInt8], vr: VR) -> [Double]? {
        switch vr {
        case .FL, .OF:
            return bytes.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
            }
        case .FD, .OD:
            return bytes.withUnsafeBytes { raw in
                (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            }
        case .DS, .IS:
            return strings(bytes, vr: vr, characterSet: .default).compactMap { Double($0) }
        default:
            return integers(bytes, vr: vr)?.map(Double.init)
        }
    }

    /// AT values: pairs of 16-bit group/element numbers.
    static func tags(_ bytes: [UInt8]) -> [Tag] {
        bytes.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map {
                Tag(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt16.self)),
                    UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4 + 2, as: UInt16.self)))
            }
        }
    }
}
