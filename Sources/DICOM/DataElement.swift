/// One attribute of a data set. Binary values are held little endian, whatever the file's byte order.
public struct DataElement: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// The value bytes, without the element header (for strings, including any padding).
        case bytes([UInt8])
        /// Items of a sequence.
        case sequence([DataSet])
        /// Encapsulated pixel data: the Basic Offset Table, then one entry per fragment (PS3.5 A.4).
        case fragments(offsetTable: [UInt8], fragments: [[UInt8]])
    }

    public let tag: Tag
    public let vr: VR
    public var value: Value

    public init(tag: Tag, vr: VR, value: Value) {
        self.tag = tag
        self.vr = vr
        self.value = value
    }

    /// A string element; the value is padded to even length as PS3.5 requires.
    public init(tag: Tag, vr: VR, string: String) {
        var bytes = Array(string.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        self.init(tag: tag, vr: vr, value: .bytes(bytes))
    }

    /// A multi-valued string element (values joined by backslash).
    public init(tag: Tag, vr: VR, strings: [String]) {
        self.init(tag: tag, vr: vr, string: strings.joined(separator: "\\"))
    }

    public init(tag: Tag, uint16 values: [UInt16]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 2)
        for v in values { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
        self.init(tag: tag, vr: .US, value: .bytes(bytes))
    }

    public init(tag: Tag, uint32 values: [UInt32]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        self.init(tag: tag, vr: .UL, value: .bytes(bytes))
    }

    public init(tag: Tag, items: [DataSet]) {
        self.init(tag: tag, vr: .SQ, value: .sequence(items))
    }

    /// The raw value bytes (empty for sequences and encapsulated data).
    public var bytes: [UInt8] {
        if case .bytes(let b) = value { return b }
        return []
    }

    public var items: [DataSet]? {
        if case .sequence(let items) = value { return items }
        return nil
    }

    /// True when the element has no value (zero length, or a sequence without items).
    public var isEmpty: Bool {
        switch value {
        case .bytes(let b): return b.isEmpty
        case .sequence(let items): return items.isEmpty
        case .fragments(_, let fragments): return fragments.isEmpty
        }
    }

    /// Encoded length of the value in bytes (defined-length encodings; sequences and fragments excluded).
    public var valueLength: Int {
        switch value {
        case .bytes(let b): return b.count
        case .sequence, .fragments: return 0
        }
    }
}
