import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Specific Character Set (0008,0005): how the bytes of SH, LO, ST, LT, PN, UC and UT values
/// become text (PS3.5 6.1, PS3.3 C.12.1.1.2), including ISO 2022 code extensions.
public struct SpecificCharacterSet: Sendable, Equatable {
    /// The defined terms as found in the data set, e.g. `["ISO 2022 IR 6", "ISO 2022 IR 87"]`.
    public let terms: [String]

    /// The default repertoire (no Specific Character Set).
    public static let `default` = SpecificCharacterSet(terms: [])
    public static let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])

    public init(terms: [String]) {
        self.terms = terms.map { $0.trimmingSpaces() }
    }

    /// True when the value declares code extensions (ISO 2022 escape sequences).
    var usesCodeExtensions: Bool { terms.contains { $0.hasPrefix("ISO 2022") } }

    /// Decodes a value's bytes to text.
    public func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        if bytes.allSatisfy({ $0 < 0x80 && $0 != 0x1B }) {
            if terms.first == "ISO_IR 13" || terms.first == "ISO 2022 IR 13" {
                return CodeSet.jisRoman.decode(Array(bytes))
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        if usesCodeExtensions { return decodeWithCodeExtensions(Array(bytes)) }
        let term = terms.first ?? ""
        switch term {
        case "ISO_IR 192": return String(decoding: bytes, as: UTF8.self)
        case "ISO_IR 100": return CodeSet.latin1.decode(Array(bytes))
        case "", "ISO_IR 6":
            // Undeclared 8-bit text: UTF-8 when it is valid UTF-8, Latin-1 otherwise (what most writers meant).
            let array = Array(bytes)
            if let utf8 = String(validating: array, as: UTF8.self) { return utf8 }
            return CodeSet.latin1.decode(array)
        default:
            if let set = CodeSet.forSingleByteTerm(term) { return set.decode(Array(bytes)) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// ISO 2022: G0 (bytes < 0x80) and G1 (bytes >= 0x80) are designated by escape sequences;
    /// the first defined term says what is designated at the start of each value.
    private func decodeWithCodeExtensions(_ bytes: [UInt8]) -> String {
        let initial = terms.first.flatMap { CodeSet.initialDesignation(for: $0) } ?? (g0: .ascii, g1: nil)
        var g0 = initial.g0
        var g1 = initial.g1
        var result = ""
        var run: [UInt8] = []
        var runIsHigh = false

        func flush() {
            guard !run.isEmpty else { return }
            if runIsHigh {
                result += (g1 ?? .latin1).decode(run)
            } else {
                result += g0.decode(run)
            }
            run.removeAll(keepingCapacity: true)
        }

        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x1B, let (designation, length) = CodeSet.escapeSequence(in: bytes, at: i) {
                flush()
                switch designation {
                case .g0(let set): g0 = set
                case .g1(let set): g1 = set
                }
                i += length
                continue
            }
            let high = b >= 0x80
            if high != runIsHigh { flush(); runIsHigh = high }
            // Control characters and delimiters end a two-byte run: they are always single-byte.
            if !high, g0.bytesPerCharacter == 2, b < 0x21 || b == 0x7F {
                flush()
                result += String(UnicodeScalar(b))
                i += 1
                continue
            }
            run.append(b)
            i += 1
        }
        flush()
        return result
    }
}

/// A coded character set that can appear in a DICOM value, and how to decode it.
enum CodeSet: Sendable, Equatable {
    case ascii
    case latin1
    /// JIS X 0201 Romaji (ISO-IR 14): ASCII with yen sign and overline.
    case jisRoman
    /// JIS X 0201 Katakana (ISO-IR 13), as G1.
    case jisKatakana
    /// A set decoded by iconv under the given name; `sevenBitTwoByte` sets are shifted to their EUC form first.
    case iconv(name: String, bytesPerCharacter: Int, shiftToEUC: Bool, prefix: [UInt8])

    var bytesPerCharacter: Int {
        if case .iconv(_, let n, _, _) = self { return n }
        return 1
    }

    static let jisX0208 = CodeSet.iconv(name: "EUC-JP", bytesPerCharacter: 2, shiftToEUC: true, prefix: [])
    static let jisX0212 = CodeSet.iconv(name: "EUC-JP", bytesPerCharacter: 2, shiftToEUC: true, prefix: [0x8F])
    static let ksX1001 = CodeSet.iconv(name: "EUC-KR", bytesPerCharacter: 2, shiftToEUC: false, prefix: [])
    static let gb2312 = CodeSet.iconv(name: "GB2312", bytesPerCharacter: 2, shiftToEUC: false, prefix: [])

    static func singleByte(_ name: String) -> CodeSet {
        .iconv(name: name, bytesPerCharacter: 1, shiftToEUC: false, prefix: [])
    }

    /// Sets named by a defined term without code extensions.
    static func forSingleByteTerm(_ term: String) -> CodeSet? {
        switch term {
        case "ISO_IR 100": return .latin1
        case "ISO_IR 101": return singleByte("ISO-8859-2")
        case "ISO_IR 109": return singleByte("ISO-8859-3")
        case "ISO_IR 110": return singleByte("ISO-8859-4")
        case "ISO_IR 144": return singleByte("ISO-8859-5")
        case "ISO_IR 127": return singleByte("ISO-8859-6")
        case "ISO_IR 126": return singleByte("ISO-8859-7")
        case "ISO_IR 138": return singleByte("ISO-8859-8")
        case "ISO_IR 148": return singleByte("ISO-8859-9")
        case "ISO_IR 203": return singleByte("ISO-8859-15")
        case "ISO_IR 166": return singleByte("TIS-620")
        case "ISO_IR 13": return .jisKatakana
        case "GB18030": return .iconv(name: "GB18030", bytesPerCharacter: 1, shiftToEUC: false, prefix: [])
        case "GBK": return .iconv(name: "GBK", bytesPerCharacter: 1, shiftToEUC: false, prefix: [])
        default: return nil
        }
    }

    /// What a defined term designates to G0 and G1 at the start of a value.
    static func initialDesignation(for term: String) -> (g0: CodeSet, g1: CodeSet?)? {
        switch term {
        case "", "ISO 2022 IR 6": return (.ascii, nil)
        case "ISO 2022 IR 13": return (.jisRoman, .jisKatakana)
        case "ISO 2022 IR 87": return (.jisX0208, nil)
        case "ISO 2022 IR 159": return (.jisX0212, nil)
        case "ISO 2022 IR 149": return (.ascii, .ksX1001)
        case "ISO 2022 IR 58": return (.ascii, .gb2312)
        default:
            let number = term.replacingOccurrences(of: "ISO 2022 IR ", with: "ISO_IR ")
            if let set = forSingleByteTerm(number) { return (.ascii, set) }
            return nil
        }
    }

    enum Designation { case g0(CodeSet), g1(CodeSet) }

    /// Recognises the escape sequences of PS3.3 Table C.12-3 and C.12-4.
    static func escapeSequence(in bytes: [UInt8], at i: Int) -> (Designation, Int)? {
        func at(_ k: Int) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }
        switch (at(1), at(2), at(3)) {
        case (0x28, 0x42, _): return (.g0(.ascii), 3)           // ESC ( B
        case (0x28, 0x4A, _): return (.g0(.jisRoman), 3)        // ESC ( J
        case (0x29, 0x49, _): return (.g1(.jisKatakana), 3)     // ESC ) I
        case (0x24, 0x42, _): return (.g0(.jisX0208), 3)        // ESC $ B
        case (0x24, 0x28, 0x44): return (.g0(.jisX0212), 4)     // ESC $ ( D
        case (0x24, 0x29, 0x43): return (.g1(.ksX1001), 4)      // ESC $ ) C
        case (0x24, 0x29, 0x41): return (.g1(.gb2312), 4)       // ESC $ ) A
        case (0x2D, let final?, _):                             // ESC - F: 96-character sets in G1
            let term: String? = switch final {
            case 0x41: "ISO_IR 100"
            case 0x42: "ISO_IR 101"
            case 0x43: "ISO_IR 109"
            case 0x44: "ISO_IR 110"
            case 0x4C: "ISO_IR 144"
            case 0x47: "ISO_IR 127"
            case 0x46: "ISO_IR 126"
            case 0x48: "ISO_IR 138"
            case 0x4D: "ISO_IR 148"
            case 0x62: "ISO_IR 203"
            case 0x54: "ISO_IR 166"
            default: nil
            }
            guard let term, let set = forSingleByteTerm(term) else { return nil }
            return (.g1(set), 3)
        default: return nil
        }
    }

    func decode(_ bytes: [UInt8]) -> String {
        switch self {
        case .ascii:
            return String(decoding: bytes, as: UTF8.self)
        case .latin1:
            var s = String.UnicodeScalarView()
            for b in bytes { s.append(UnicodeScalar(b)) }
            return String(s)
        case .jisRoman:
            var s = String.UnicodeScalarView()
            for b in bytes {
                switch b {
                case 0x5C: s.append("\u{A5}")
                case 0x7E: s.append("\u{203E}")
                default: s.append(UnicodeScalar(b))
                }
            }
            return String(s)
        case .jisKatakana:
            var s = String.UnicodeScalarView()
            for b in bytes {
                if (0xA1...0xDF).contains(b), let scalar = UnicodeScalar(0xFF61 + UInt32(b) - 0xA1) {
                    s.append(scalar)
                } else {
                    s.append(UnicodeScalar(b & 0x7F))
                }
            }
            return String(s)
        case .iconv(let name, let width, let shift, let prefix):
            var input: [UInt8] = []
            input.reserveCapacity(bytes.count * (prefix.isEmpty ? 1 : 2))
            if width == 2, !prefix.isEmpty || shift {
                var k = 0
                while k + 1 < bytes.count {
                    input.append(contentsOf: prefix)
                    input.append(shift ? bytes[k] | 0x80 : bytes[k])
                    input.append(shift ? bytes[k + 1] | 0x80 : bytes[k + 1])
                    k += 2
                }
            } else {
                input = bytes
            }
            return Iconv.decode(input, from: name) ?? CodeSet.latin1.decode(bytes)
        }
    }
}

/// glibc iconv, for the character sets Foundation does not cover.
enum Iconv {
    static func decode(_ bytes: [UInt8], from charset: String) -> String? {
        let cd = iconv_open("UTF-8", charset)
        if cd == iconv_t(bitPattern: -1) { return nil }
        defer { iconv_close(cd) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: bytes.count * 4 + 16)
        let produced: Int? = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                var inPtr: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(inBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var inLeft = inBuf.count
                var outPtr: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(outBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var outLeft = outBuf.count
                while inLeft > 0 {
                    if iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) == -1 {
                        // Skip an undecodable byte and go on: one bad byte must not lose the rest of a name.
                        guard errno == EILSEQ || errno == EINVAL, inLeft > 0, outLeft >= 3 else { return nil }
                        inPtr = inPtr! + 1
                        inLeft -= 1
                        outPtr![0] = CChar(bitPattern: 0xEF); outPtr![1] = CChar(bitPattern: 0xBF); outPtr![2] = CChar(bitPattern: 0xBD)
                        outPtr = outPtr! + 3
                        outLeft -= 3
                    }
                }
                return outBuf.count - outLeft
            }
        }
        guard let produced else { return nil }
        return String(decoding: output[0..<produced], as: UTF8.self)
    }
}

extension String {
    /// The values of a multi-valued string, split at each backslash scalar (the byte 0x5C), also
    /// where a combining mark after it makes the backslash part of a larger Character, which a split
    /// by Character would keep whole. Substrings: the reader trims each into its one copy.
    func splitAtBackslashes(omittingEmpty: Bool) -> [Substring] {
        unicodeScalars.split(separator: "\\", omittingEmptySubsequences: omittingEmpty).map(Substring.init)
    }
}

extension StringProtocol {
    /// Removes leading and trailing spaces (not other whitespace).
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
