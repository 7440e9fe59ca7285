import Foundation

/// The DICOM JSON Model (PS3.18 F.2): data set → JSON text, written directly (no intermediate objects).
public struct DICOMJSONEncoder: Sendable {
    /// Where a bulk value can be fetched: called with the path of tags from the top-level data set
    /// (one tag for a top-level element; sequence tags and item indexes before it otherwise).
    public typealias BulkDataURIProvider = @Sendable (_ path: [BulkDataPathComponent]) -> String?

    public enum BulkDataPathComponent: Sendable, Equatable {
        case tag(Tag)
        case item(Int)
    }

    /// Binary values longer than this many bytes are referenced by BulkDataURI (when a provider is set).
    public var bulkDataThreshold: Int
    public var bulkDataURI: BulkDataURIProvider?

    public init(bulkDataThreshold: Int = 1024, bulkDataURI: BulkDataURIProvider? = nil) {
        self.bulkDataThreshold = bulkDataThreshold
        self.bulkDataURI = bulkDataURI
    }

    public func encode(_ dataSet: DataSet) -> String {
        var out = ""
        out.reserveCapacity(dataSet.count * 48)
        writeObject(dataSet, path: [], into: &out)
        return out
    }

    private func writeObject(_ dataSet: DataSet, path: [BulkDataPathComponent], into out: inout String) {
        out += "{"
        var first = true
        for element in dataSet.elements {
            // Group lengths and file meta information are encoding details, not attributes.
            if element.tag.isGroupLength || element.tag.group == 0x0002 { continue }
            if !first { out += "," }
            first = false
            out += "\""
            out += element.tag.hex
            out += "\":"
            writeElement(element, characterSet: dataSet.characterSet, path: path + [.tag(element.tag)], into: &out)
        }
        out += "}"
    }

    private func writeElement(_ element: DataElement, characterSet: SpecificCharacterSet,
                              path: [BulkDataPathComponent], into out: inout String) {
        let vr = element.vr
        out += "{\"vr\":\""
        out += vr.rawValue
        out += "\""
        defer { out += "}" }
        switch element.value {
        case .sequence(let items):
            guard !items.isEmpty else { return }
            out += ",\"Value\":["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                writeObject(item, path: path + [.item(i)], into: &out)
            }
            out += "]"
        case .fragments:
            if let uri = bulkDataURI?(path) {
                out += ",\"BulkDataURI\":"
                Self.appendQuoted(uri, into: &out)
            }
        case .bytes(let bytes):
            guard !bytes.isEmpty else { return }
            if vr.isBulkBinary {
                if bytes.count > bulkDataThreshold, let uri = bulkDataURI?(path) {
                    out += ",\"BulkDataURI\":"
                    Self.appendQuoted(uri, into: &out)
                } else {
                    out += ",\"InlineBinary\":\""
                    out += Data(bytes).base64EncodedString()
                    out += "\""
                }
                return
            }
            writeValues(bytes, vr: vr, characterSet: characterSet, into: &out)
        }
    }

    private func writeValues(_ bytes: [UInt8], vr: VR, characterSet: SpecificCharacterSet, into out: inout String) {
        var values: [String] = []
        switch vr {
        case .PN:
            let names = ValueDecoding.strings(bytes, vr: vr, characterSet: characterSet)
            guard names.contains(where: { !$0.isEmpty }) else { return }
            out += ",\"Value\":["
            for (i, name) in names.enumerated() {
                if i > 0 { out += "," }
                Self.appendPersonName(name, into: &out)
            }
            out += "]"
            return
        case .AT:
            values = ValueDecoding.tags(bytes).map { "\"\($0.hex)\"" }
        case .US, .SS, .UL, .SL, .SV, .UV:
            values = (ValueDecoding.integers(bytes, vr: vr) ?? []).map { String($0) }
            if vr == .UV {  // UV beyond Int64 would have wrapped; decode unsigned
                values = bytes.withUnsafeBytes { raw in
                    (0..<(raw.count / 8)).map { String(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
                }
            }
        case .FL, .FD:
            values = (ValueDecoding.doubles(bytes, vr: vr) ?? []).map(Self.number)
        case .IS, .DS:
            if let ranges = Self.plainASCIIValues(bytes, vr: vr, characterSet: .default) {
                values = ranges.map { range in range.isEmpty ? "null" : Self.jsonNumber(String(decoding: bytes[range], as: UTF8.self)) }
                break
            }
            values = ValueDecoding.strings(bytes, vr: vr, characterSet: .default).map { text in
                text.isEmpty ? "null" : Self.jsonNumber(text)
            }
        default:
            if let ranges = Self.plainASCIIValues(bytes, vr: vr, characterSet: characterSet) {
                // Quoted as they are, without a String per value: most values of most data sets.
                guard ranges.contains(where: { !$0.isEmpty }) else { return }
                out += ",\"Value\":["
                for (i, range) in ranges.enumerated() {
                    if i > 0 { out += "," }
                    if range.isEmpty {
                        out += "null"
                    } else {
                        out += "\""
                        out += String(decoding: bytes[range], as: UTF8.self)
                        out += "\""
                    }
                }
                out += "]"
                return
            }
            values = ValueDecoding.strings(bytes, vr: vr, characterSet: characterSet).map { text in
                if text.isEmpty { return "null" }
                var quoted = ""
                Self.appendQuoted(text, into: &quoted)
                return quoted
            }
        }
        guard !values.isEmpty, values.contains(where: { $0 != "null" }) else { return }
        out += ",\"Value\":["
        out += values.joined(separator: ",")
        out += "]"
    }

    /// The values of a string element as ranges of its bytes, when they are printable ASCII that
    /// JSON takes as it is and that reads as ASCII in the element's character set; nil otherwise
    /// (then `ValueDecoding.strings` decodes them). Same splitting and trimming as there.
    static func plainASCIIValues(_ bytes: [UInt8], vr: VR, characterSet: SpecificCharacterSet) -> [Range<Int>]? {
        if vr.usesSpecificCharacterSet, let first = characterSet.terms.first, first == "ISO_IR 13" || first == "ISO 2022 IR 13" {
            return nil  // JIS X 0201 Romaji: 0x5C is the yen sign, 0x7E the overline
        }
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x00 || bytes[end - 1] == 0x20 { end -= 1 }
        func trimmed(_ range: Range<Int>) -> Range<Int> {
            var (lower, upper) = (range.lowerBound, range.upperBound)
            while lower < upper, bytes[lower] == 0x20 { lower += 1 }
            while upper > lower, bytes[upper - 1] == 0x20 { upper -= 1 }
            return lower..<upper
        }
        let single = vr.isSingleValuedText
        var ranges: [Range<Int>] = []
        var start = 0
        for i in 0..<end {
            let byte = bytes[i]
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), !(single && byte == UInt8(ascii: "\\")) else { return nil }
            if byte == UInt8(ascii: "\\") {
                ranges.append(trimmed(start..<i))
                start = i + 1
            }
        }
        ranges.append(single ? start..<end : trimmed(start..<end))
        return ranges
    }

    /// PN: `{"Alphabetic": ..., "Ideographic": ..., "Phonetic": ...}` from the `=`-separated groups.
    static func appendPersonName(_ name: String, into out: inout String) {
        let groups = name.split(separator: "=", omittingEmptySubsequences: false)
        let keys = ["Alphabetic", "Ideographic", "Phonetic"]
        out += "{"
        var first = true
        for (key, group) in zip(keys, groups) where !group.isEmpty {
            if !first { out += "," }
            first = false
            out += "\"\(key)\":"
            appendQuoted(String(group), into: &out)
        }
        out += "}"
    }

    static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    /// A DS or IS value as a JSON number: as written when JSON's grammar takes it and a double holds
    /// it, else re-formatted (null when it is no number or beyond a double). `1.3671e0880` is valid
    /// JSON that JSONSerialization refuses and JavaScript reads as Infinity (a fuzzer's find);
    /// `1e-400` underflows to 0.
    static func jsonNumber(_ text: String) -> String {
        guard let d = Double(text) else { return "null" }
        let underflow = d == 0 && text.utf8.contains { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }
        return isJSONNumber(text) && d.isFinite && !underflow ? text : number(d)
    }

    /// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isJSONNumber(_ s: String) -> Bool {
        var it = Array(s.utf8)[...]
        func digits() -> Int { var n = 0; while let c = it.first, c >= 48 && c <= 57 { it.removeFirst(); n += 1 }; return n }
        if it.first == UInt8(ascii: "-") { it.removeFirst() }
        guard let c = it.first else { return false }
        if c == UInt8(ascii: "0") { it.removeFirst() } else if digits() == 0 { return false }
        if it.first == UInt8(ascii: ".") { it.removeFirst(); if digits() == 0 { return false } }
        if it.first == UInt8(ascii: "e") || it.first == UInt8(ascii: "E") {
            it.removeFirst()
            if it.first == UInt8(ascii: "+") || it.first == UInt8(ascii: "-") { it.removeFirst() }
            if digits() == 0 { return false }
        }
        return it.isEmpty
    }

    static func appendQuoted(_ s: String, into out: inout String) {
        out += "\""
        defer { out += "\"" }
        // Most values need no escaping: append them whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
    }
}
