import Foundation

/// Reads Part-10 files and raw data sets: implicit and explicit VR little endian, explicit VR big
/// endian, deflated; defined and undefined lengths; nested sequences; encapsulated pixel data.
public enum DICOMReader {
    /// Maximum sequence nesting accepted; deeper structures are treated as malformed input.
    static let maxDepth = 64

    /// Reads a file through a memory map, so the header-only path touches only the pages it parses.
    public static func read(contentsOf url: URL, options: ReadOptions = .full) throws -> DICOMFile {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw DICOMError.notDICOM("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try read(data, options: options)
    }

    public static func read(_ data: Data, options: ReadOptions = .full) throws -> DICOMFile {
        try data.withUnsafeBytes { try read(buffer: $0, options: options) }
    }

    public static func read(_ bytes: [UInt8], options: ReadOptions = .full) throws -> DICOMFile {
        try bytes.withUnsafeBytes { try read(buffer: $0, options: options) }
    }

    /// Reads a bare data set (no preamble, no meta information) in a known transfer syntax,
    /// e.g. a C-FIND identifier.
    public static func readDataSet(_ bytes: [UInt8], transferSyntax: TransferSyntax = .explicitVRLittleEndian) throws -> DataSet {
        try bytes.withUnsafeBytes { buffer in
            if transferSyntax.isDeflated {
                let inflated = try Deflate.decompress(UnsafeRawBufferPointer(buffer), maximumOutput: ReadOptions.full.maximumInflatedBytes)
                return try inflated.withUnsafeBytes { inner in
                    var p = Parser(buffer: inner, explicit: true, bigEndian: false)
                    return try p.dataSet(end: inner.count, inherited: .default, depth: 0, options: .full).dataSet
                }
            }
            var p = Parser(buffer: buffer, explicit: transferSyntax.isExplicitVR, bigEndian: transferSyntax.isBigEndian)
            return try p.dataSet(end: buffer.count, inherited: .default, depth: 0, options: .full).dataSet
        }
    }

    /// True when the bytes start as a Part-10 file: a 128-byte preamble, then "DICM".
    public static func isPart10(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.count >= 132 && bytes.dropFirst(128).prefix(4).elementsEqual("DICM".utf8)
    }

    /// Reads from memory the caller owns (e.g. a mapped file).
    public static func read(buffer: UnsafeRawBufferPointer, options: ReadOptions) throws -> DICOMFile {
        var offset = 0
        var meta = DataSet()
        var isPart10 = false
        if Self.isPart10(buffer) {
            offset = 132
            isPart10 = true
        }
        // Meta information: always explicit VR little endian, group 0002 (some writers omit the preamble).
        if buffer.count >= offset + 8, buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian == 0x0002 {
            var p = Parser(buffer: buffer, explicit: true, bigEndian: false)
            p.position = offset
            meta = try p.metaInformation()
            offset = p.position
        } else if isPart10 {
            throw DICOMError.malformed(offset: offset, "no file meta information after the DICM prefix")
        }

        let syntax: TransferSyntax
        if let uid = meta.string(.transferSyntaxUID) {
            guard TransferSyntax.isStandard(uid) else {
                throw DICOMError.unsupported("transfer syntax \(uid) is not a DICOM transfer syntax")
            }
            syntax = TransferSyntax(uid: uid)
        } else {
            syntax = try detectSyntax(buffer, at: offset)
        }
        guard buffer.count > offset else {
            throw DICOMError.notDICOM(isPart10 ? "the file has no data set" : "empty")
        }

        if syntax.isDeflated {
            let inflated = try Deflate.decompress(UnsafeRawBufferPointer(rebasing: buffer[offset...]),
                                                  maximumOutput: options.maximumInflatedBytes)
            let result = try inflated.withUnsafeBytes { inner in
                var p = Parser(buffer: inner, explicit: true, bigEndian: false)
                return try p.dataSet(end: inner.count, inherited: .default, depth: 0, options: options)
            }
            return DICOMFile(meta: meta, dataSet: result.dataSet, transferSyntax: syntax, dataSetOffset: offset,
                             isPart10: isPart10, stoppedAtOffset: result.stoppedAt.map { _ in offset },
                             skippedElements: result.skipped)
        }
        // Some writers declare explicit VR but write implicit: read what is there, as pydicom and DCMTK do.
        let explicit = syntax.isExplicitVR && !(buffer.count >= offset + 6 && !syntax.isBigEndian
            && VR(byte0: buffer[offset + 4], byte1: buffer[offset + 5]) == nil)
        var p = Parser(buffer: buffer, explicit: explicit, bigEndian: syntax.isBigEndian)
        p.position = offset
        let result = try p.dataSet(end: buffer.count, inherited: .default, depth: 0, options: options)
        if !isPart10 && meta.isEmpty && result.dataSet.isEmpty {
            throw DICOMError.notDICOM("no DICOM elements found")
        }
        return DICOMFile(meta: meta, dataSet: result.dataSet, transferSyntax: syntax, dataSetOffset: offset,
                         isPart10: isPart10, stoppedAtOffset: result.stoppedAt, skippedElements: result.skipped)
    }

    /// A data set without meta information: decide byte order and VR encoding from its first element,
    /// which must be a plausible low group (files without meta start at group 0008 or so).
    static func detectSyntax(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws -> TransferSyntax {
        guard buffer.count >= offset + 8 else { throw DICOMError.notDICOM("too short to be DICOM") }
        let groupLE = UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        let groupBE = UInt16(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        let vrIsValid = VR(byte0: buffer[offset + 4], byte1: buffer[offset + 5]) != nil
        if groupLE >= 0x0001 && groupLE <= 0x0010 {
            return vrIsValid ? .explicitVRLittleEndian : .implicitVRLittleEndian
        }
        if groupBE >= 0x0001 && groupBE <= 0x0010 && vrIsValid {
            return .explicitVRBigEndian
        }
        throw DICOMError.notDICOM("no DICM prefix and no recognisable data set")
    }
}

/// The element walker. Works on an unsafe buffer; every read is bounds-checked.
struct Parser {
    let buffer: UnsafeRawBufferPointer
    var position = 0
    let explicit: Bool
    let bigEndian: Bool
    let dictionary = DataDictionary.shared

    init(buffer: UnsafeRawBufferPointer, explicit: Bool, bigEndian: Bool) {
        self.buffer = buffer
        self.explicit = explicit
        self.bigEndian = bigEndian
    }

    private var remaining: Int { buffer.count - position }

    private mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        if n > remaining || n < 0 { throw DICOMError.truncated(offset: position, what()) }
    }

    private mutating func uint16() -> UInt16 {
        let v = buffer.loadUnaligned(fromByteOffset: position, as: UInt16.self)
        position += 2
        return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }

    private mutating func uint32() -> UInt32 {
        let v = buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }

    private mutating func tag() -> Tag {
        let g = uint16()
        let e = uint16()
        return Tag(g, e)
    }

    static let undefinedLength: UInt32 = 0xFFFF_FFFF

    /// Reads the group 0002 elements (explicit VR little endian) starting at `position`.
    mutating func metaInformation() throws -> DataSet {
        var elements: [DataElement] = []
        while remaining >= 8 {
            let group = UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt16.self))
            guard group == 0x0002 else { break }
            let header = try elementHeader(depth: 0)
            guard header.length != Self.undefinedLength else {
                throw DICOMError.malformed(offset: position, "undefined length in file meta information")
            }
            elements.append(try value(header, inherited: .default, depth: 0))
        }
        return DataSet(elements, characterSet: .default)
    }

    struct Header {
        let tag: Tag
        let vr: VR
        let length: UInt32
        let start: Int
    }

    private mutating func elementHeader(depth: Int) throws -> Header {
        let start = position
        try need(8, "element header")
        let t = tag()
        if t.group == 0xFFFE {
            // Items and delimiters have no VR in any encoding.
            return Header(tag: t, vr: .UN, length: uint32(), start: start)
        }
        if explicit {
            guard let vr = VR(byte0: buffer[position], byte1: buffer[position + 1]) else {
                throw DICOMError.malformed(offset: position, "invalid VR bytes 0x\(String(buffer[position], radix: 16)) 0x\(String(buffer[position + 1], radix: 16)) for \(t)")
            }
            position += 2
            if vr.hasLongLength {
                try need(6, "element length")
                position += 2
                return Header(tag: t, vr: vr, length: uint32(), start: start)
            }
            return Header(tag: t, vr: vr, length: UInt32(uint16()), start: start)
        }
        return Header(tag: t, vr: dictionary.vr(for: t), length: uint32(), start: start)
    }

    /// Reads elements until `end`, an item delimiter (undefined-length items) or the stop tag.
    mutating func dataSet(end: Int, inherited: SpecificCharacterSet, depth: Int,
                          options: ReadOptions) throws -> (dataSet: DataSet, stoppedAt: Int?, skipped: [SkippedElement]) {
        guard depth <= DICOMReader.maxDepth else {
            throw DICOMError.malformed(offset: position, "sequences nested deeper than \(DICOMReader.maxDepth)")
        }
        var elements: [DataElement] = []
        var characterSet = inherited
        var stoppedAt: Int?
        var skipped: [SkippedElement] = []
        while position < end {
            // Trailing padding shorter than a header is tolerated at the top level.
            if depth == 0 && end - position < 8 && buffer[position..<end].allSatisfy({ $0 == 0 }) { position = end; break }
            let header = try elementHeader(depth: depth)
            if header.tag == .itemDelimitation { break }
            if header.tag == .sequenceDelimitation || header.tag == .item {
                throw DICOMError.malformed(offset: header.start, "unexpected \(header.tag) in a data set")
            }
            if depth == 0, let stop = options.stopAt, header.tag >= stop {
                if stoppedAt == nil { stoppedAt = header.start }
                guard options.verifyRemainder else { position = header.start; break }
                skipped.append(try skip(header, depth: depth))
                continue
            }
            let element = try value(header, inherited: characterSet, depth: depth)
            if element.tag == .specificCharacterSet, case .bytes(let b) = element.value {
                characterSet = SpecificCharacterSet(terms: ValueDecoding.strings(b, vr: .CS, characterSet: .default))
            }
            elements.append(element)
        }
        if !elements.isSortedByTag() { elements.sort { $0.tag < $1.tag } }
        if !explicit { resolveUnsignedOrSigned(&elements) }
        return (DataSet(sortedElements: elements, characterSet: characterSet), stoppedAt, skipped)
    }

    private mutating func value(_ header: Header, inherited: SpecificCharacterSet, depth: Int) throws -> DataElement {
        let undefined = header.length == Self.undefinedLength
        if header.vr == .SQ || (undefined && header.vr == .UN && header.tag != .pixelData) {
            // UN of undefined length is a sequence encoded implicit VR little endian (PS3.5 6.2.2).
            if header.vr == .UN {
                var inner = Parser(buffer: buffer, explicit: false, bigEndian: false)
                inner.position = position
                let items = try inner.sequenceItems(undefined: true, end: buffer.count, inherited: inherited, depth: depth + 1)
                position = inner.position
                return DataElement(tag: header.tag, vr: .SQ, value: .sequence(items))
            }
            let end = undefined ? buffer.count : position + Int(header.length)
            try need(undefined ? 0 : Int(header.length), "sequence \(header.tag)")
            let items = try sequenceItems(undefined: undefined, end: end, inherited: inherited, depth: depth + 1)
            return DataElement(tag: header.tag, vr: .SQ, value: .sequence(items))
        }
        if undefined {
            guard header.tag == .pixelData || header.vr == .OB || header.vr == .OW else {
                throw DICOMError.malformed(offset: header.start, "undefined length for \(header.tag) \(header.vr.rawValue)")
            }
            let (table, fragments) = try encapsulatedFragments()
            return DataElement(tag: header.tag, vr: header.vr == .UN ? .OB : header.vr, value: .fragments(offsetTable: table, fragments: fragments))
        }
        let length = Int(header.length)
        try need(length, "value of \(header.tag) (\(length) bytes)")
        if header.vr == .UN && !bigEndian, let known = knownVR(header.tag) {
            // UN for an attribute the dictionary knows (written by a node that did not): read it as
            // what it is; a sequence's bytes are implicit VR little endian (PS3.5 6.2.2).
            if known == .SQ {
                var inner = Parser(buffer: buffer, explicit: false, bigEndian: false)
                inner.position = position
                let items = try inner.sequenceItems(undefined: false, end: position + length, inherited: inherited, depth: depth + 1)
                position += length
                return DataElement(tag: header.tag, vr: .SQ, value: .sequence(items))
            }
            let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[position..<(position + length)]))
            position += length
            return DataElement(tag: header.tag, vr: known, value: .bytes(bytes))
        }
        var bytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[position..<(position + length)]))
        position += length
        if bigEndian, let width = header.vr.binaryWordSize, width > 1 {
            Self.swapWords(&bytes, width: width)
        }
        return DataElement(tag: header.tag, vr: header.vr, value: .bytes(bytes))
    }

    private mutating func sequenceItems(undefined: Bool, end: Int, inherited: SpecificCharacterSet, depth: Int) throws -> [DataSet] {
        var items: [DataSet] = []
        while position < end {
            try need(8, "sequence item header")
            let start = position
            let t = tag()
            let length = uint32()
            if t == .sequenceDelimitation { return items }
            guard t == .item else {
                throw DICOMError.malformed(offset: start, "expected an item in a sequence, found \(t)")
            }
            if length == Self.undefinedLength {
                items.append(try dataSet(end: buffer.count, inherited: inherited, depth: depth, options: .full).dataSet)
            } else {
                try need(Int(length), "sequence item (\(length) bytes)")
                let itemEnd = position + Int(length)
                items.append(try dataSet(end: itemEnd, inherited: inherited, depth: depth, options: .full).dataSet)
                position = itemEnd
            }
        }
        if undefined { throw DICOMError.truncated(offset: position, "sequence without its delimitation item") }
        return items
    }

    /// Reads the items of encapsulated pixel data up to the sequence delimiter.
    private mutating func encapsulatedFragments() throws -> ([UInt8], [[UInt8]]) {
        let items = try encapsulatedItems().map { [UInt8](UnsafeRawBufferPointer(rebasing: buffer[$0])) }
        return (items.first ?? [], Array(items.dropFirst()))
    }

    /// Walks the items of encapsulated pixel data (Basic Offset Table first) to the sequence
    /// delimiter, checking that each is complete; returns where their values lie.
    private mutating func encapsulatedItems() throws -> [Range<Int>] {
        var items: [Range<Int>] = []
        while true {
            try need(8, "encapsulated pixel data item")
            let start = position
            let t = tag()
            let length = uint32()
            if t == .sequenceDelimitation { return items }
            guard t == .item, length != Self.undefinedLength else {
                throw DICOMError.malformed(offset: start, "expected a fragment item in encapsulated pixel data, found \(t)")
            }
            try need(Int(length), "pixel data fragment (\(length) bytes)")
            items.append(position..<(position + Int(length)))
            position += Int(length)
        }
    }

    /// Walks past an element without keeping its value, checking that it is complete.
    /// Walks past an element without keeping its value, checking that it is complete, and says
    /// where its value lies in the buffer.
    private mutating func skip(_ header: Header, depth: Int) throws -> SkippedElement {
        let start = position
        if header.length != Self.undefinedLength && header.vr != .SQ {
            try need(Int(header.length), "value of \(header.tag) (\(header.length) bytes)")
            position += Int(header.length)
            return SkippedElement(tag: header.tag, vr: header.vr, isEncapsulated: false,
                                  valueRange: start..<position, fragmentRanges: [], bigEndian: bigEndian)
        }
        if header.vr == .SQ || header.vr == .UN {
            _ = try value(header, inherited: .default, depth: depth)
            return SkippedElement(tag: header.tag, vr: header.vr, isEncapsulated: false,
                                  valueRange: start..<position, fragmentRanges: [], bigEndian: bigEndian)
        }
        let fragments = try encapsulatedItems()
        return SkippedElement(tag: header.tag, vr: header.vr, isEncapsulated: true,
                              valueRange: start..<position, fragmentRanges: fragments, bigEndian: bigEndian)
    }

    /// Implicit VR leaves "US or SS" attributes to Pixel Representation (0028,0103): 1 means signed.
    private func resolveUnsignedOrSigned(_ elements: inout [DataElement]) {
        guard let representation = elements.first(where: { $0.tag == .pixelRepresentation }),
              ValueDecoding.integers(representation.bytes, vr: .US)?.first == 1 else { return }
        for i in elements.indices where elements[i].vr == .US && dictionary.isUnsignedOrSigned(elements[i].tag) {
            elements[i] = DataElement(tag: elements[i].tag, vr: .SS, value: elements[i].value)
        }
    }

    /// The dictionary VR of a public attribute, when it is a definite one.
    private func knownVR(_ tag: Tag) -> VR? {
        guard !tag.isPrivate, !tag.isGroupLength else { return nil }
        let vr = dictionary.vr(for: tag)
        return vr == .UN ? nil : vr
    }

    static func swapWords(_ bytes: inout [UInt8], width: Int) {
        var i = 0
        while i + width <= bytes.count {
            var lo = i, hi = i + width - 1
            while lo < hi { bytes.swapAt(lo, hi); lo += 1; hi -= 1 }
            i += width
        }
    }
}

extension Array where Element == DataElement {
    func isSortedByTag() -> Bool {
        var i = 1
        while i < count { if self[i - 1].tag > self[i].tag { return false }; i += 1 }
        return true
    }
}
