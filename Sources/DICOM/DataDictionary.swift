import Foundation

/// Tag ↔ keyword ↔ VR, loaded from the data dictionary DCMTK ships (`dicom.dic`), so Loupe and
/// DCMTK agree on every attribute and no generated table lives in the source tree.
public final class DataDictionary: Sendable {
    public struct Entry: Sendable, Equatable {
        public let tag: Tag
        /// The VR; for the few attributes whose VR depends on context (US or SS, OB or OW) the usual one.
        public let vr: VR?
        public let keyword: String
    }

    /// A repeating-group or element-range entry such as `(6000-60FF,3000)`.
    private struct RangeEntry: Sendable {
        let groups: ClosedRange<UInt16>, groupParity: Parity
        let elements: ClosedRange<UInt16>, elementParity: Parity
        let entry: Entry
        enum Parity: Sendable {
            case even, odd, any
            func accepts(_ value: UInt16) -> Bool {
                switch self {
                case .any: return true
                case .even: return value % 2 == 0
                case .odd: return value % 2 == 1
                }
            }
        }

        func matches(_ tag: Tag) -> Bool {
            groups.contains(tag.group) && elements.contains(tag.element)
                && groupParity.accepts(tag.group) && elementParity.accepts(tag.element)
        }
    }

    private let exact: [Tag: Entry]
    private let ranges: [RangeEntry]
    private let byKeyword: [String: Entry]
    /// Attributes whose VR is US or SS depending on Pixel Representation (`xs` in the dictionary).
    private let unsignedOrSigned: Set<Tag>
    /// Where the dictionary was read from; nil when no dictionary file was found.
    public let source: String?

    /// The dictionary of this process: `$DCMDICTPATH` (first entry) or DCMTK's installed `dicom.dic`.
    public static let shared = DataDictionary.loadDefault()

    /// Places DCMTK's packages install the dictionary.
    public static let searchPaths: [String] = {
        var paths: [String] = []
        if let env = ProcessInfo.processInfo.environment["DCMDICTPATH"] {
            paths += env.split(separator: ":").map(String.init)
        }
        paths += ["/usr/share/libdcmtk17/dicom.dic", "/usr/share/libdcmtk16/dicom.dic",
                  "/usr/share/libdcmtk18/dicom.dic", "/usr/share/dcmtk/dicom.dic",
                  "/usr/local/share/dcmtk/dicom.dic", "/opt/homebrew/share/dcmtk/dicom.dic"]
        return paths
    }()

    private static func loadDefault() -> DataDictionary {
        for path in searchPaths where FileManager.default.fileExists(atPath: path) {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                return DataDictionary(text: text, source: path)
            }
        }
        return DataDictionary(text: "", source: nil)
    }

    /// Parses DCMTK's dictionary format: `(gggg,eeee)<TAB>VR<TAB>Keyword<TAB>VM<TAB>Version`.
    public init(text: String, source: String?) {
        var exact: [Tag: Entry] = [:]
        var ranges: [RangeEntry] = []
        var byKeyword: [String: Entry] = [:]
        var unsignedOrSigned: Set<Tag> = []
        for line in text.split(whereSeparator: \.isNewline) {
            guard line.first == "(" else { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: true)
            guard fields.count >= 3, let close = fields[0].firstIndex(of: ")") else { continue }
            let spec = fields[0][fields[0].index(after: fields[0].startIndex)..<close]
            let parts = spec.split(separator: ",")
            guard parts.count == 2,
                  let g = Self.parseRange(parts[0]), let e = Self.parseRange(parts[1]) else { continue }
            var keyword = String(fields[2])
            if keyword.hasPrefix("RETIRED_") { keyword.removeFirst("RETIRED_".count) }
            let vr = Self.vr(fromDictionaryCode: String(fields[1]))
            if g.range.count == 1 && e.range.count == 1 {
                let tag = Tag(g.range.lowerBound, e.range.lowerBound)
                let entry = Entry(tag: tag, vr: vr, keyword: keyword)
                exact[tag] = entry
                if fields[1] == "xs" { unsignedOrSigned.insert(tag) }
                if byKeyword[keyword] == nil || !line.hasSuffix("retired") { byKeyword[keyword] = entry }
            } else {
                let entry = Entry(tag: Tag(g.range.lowerBound, e.range.lowerBound), vr: vr, keyword: keyword)
                ranges.append(RangeEntry(groups: g.range, groupParity: g.parity, elements: e.range, elementParity: e.parity, entry: entry))
                if byKeyword[keyword] == nil { byKeyword[keyword] = entry }
            }
        }
        self.exact = exact
        self.ranges = ranges
        self.byKeyword = byKeyword
        self.unsignedOrSigned = unsignedOrSigned
        self.source = source
    }

    /// `gggg`, `gg xx` masks, `gggg-gggg`, `gggg-o-gggg` (odd), `gggg-u-gggg` (any); plain ranges step by two.
    private static func parseRange(_ text: Substring) -> (range: ClosedRange<UInt16>, parity: RangeEntry.Parity)? {
        let pieces = text.split(separator: "-")
        if pieces.count == 1 {
            let s = String(pieces[0])
            if s.lowercased().contains("x") {
                guard let lo = UInt16(s.lowercased().replacingOccurrences(of: "x", with: "0"), radix: 16),
                      let hi = UInt16(s.lowercased().replacingOccurrences(of: "x", with: "f"), radix: 16) else { return nil }
                return (lo...hi, .any)
            }
            guard let v = UInt16(s, radix: 16) else { return nil }
            return (v...v, .any)
        }
        guard let lo = UInt16(pieces.first!, radix: 16), let hi = UInt16(pieces.last!, radix: 16), lo <= hi else { return nil }
        let parity: RangeEntry.Parity = pieces.count == 3 ? (pieces[1] == "o" ? .odd : .any) : (lo % 2 == 0 ? .even : .odd)
        return (lo...hi, parity)
    }

    /// Dictionary VR codes beyond PS3.5's: xs (US/SS), ox (OB/OW), px (pixel data), lt (LUT data), up (offset), na (delimiters).
    private static func vr(fromDictionaryCode code: String) -> VR? {
        switch code {
        case "xs": return .US
        case "ox", "px", "lt": return .OW
        case "up": return .UL
        case "na": return nil
        default: return VR(rawValue: code)
        }
    }

    public var isLoaded: Bool { source != nil }

    public func entry(for tag: Tag) -> Entry? {
        if let e = exact[tag] { return e }
        return ranges.first { $0.matches(tag) }.map { Entry(tag: tag, vr: $0.entry.vr, keyword: $0.entry.keyword) }
    }

    /// The VR to use when the encoding does not say (implicit VR): dictionary VR, UL for group
    /// lengths, LO for private creators, UN otherwise.
    public func vr(for tag: Tag) -> VR {
        if tag.isGroupLength { return .UL }
        if tag.isPrivateCreator { return .LO }
        if tag.isPrivate { return .UN }
        return entry(for: tag)?.vr ?? .UN
    }

    /// Whether the attribute is US or SS depending on Pixel Representation (PS3.5 Table 6-1 "US or SS").
    public func isUnsignedOrSigned(_ tag: Tag) -> Bool { unsignedOrSigned.contains(tag) }

    public func keyword(for tag: Tag) -> String? { entry(for: tag)?.keyword }

    /// Looks up a keyword (`PatientName`) or a hexadecimal tag (`00100010`).
    public func tag(forKeywordOrHex name: String) -> Tag? {
        if let entry = byKeyword[name] { return entry.tag }
        return Tag(hex: name)
    }
}
