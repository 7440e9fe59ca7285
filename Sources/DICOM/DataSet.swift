/// An ordered collection of data elements, as in a DICOM file or a sequence item.
///
/// Elements are kept sorted by tag. String values are decoded with the character set in force
/// for the data set (its own Specific Character Set, else the one it inherited as a sequence item).
public struct DataSet: Sendable, Equatable {
    public private(set) var elements: [DataElement] = []
    /// The character set that decodes this data set's strings.
    public var characterSet: SpecificCharacterSet = .default

    public init() {}

    public init(_ elements: [DataElement], characterSet: SpecificCharacterSet = .default) {
        self.elements = elements.sorted { $0.tag < $1.tag }
        self.characterSet = characterSet
    }

    /// Builds a data set from elements already in ascending tag order (the parser's output).
    init(sortedElements: [DataElement], characterSet: SpecificCharacterSet) {
        self.elements = sortedElements
        self.characterSet = characterSet
    }

    public var isEmpty: Bool { elements.isEmpty }
    public var count: Int { elements.count }
    public var tags: [Tag] { elements.map(\.tag) }

    private func index(of tag: Tag) -> (found: Bool, at: Int) {
        var low = 0, high = elements.count
        while low < high {
            let mid = (low + high) / 2
            if elements[mid].tag < tag { low = mid + 1 } else { high = mid }
        }
        return (low < elements.count && elements[low].tag == tag, low)
    }

    public subscript(tag: Tag) -> DataElement? {
        let (found, i) = index(of: tag)
        return found ? elements[i] : nil
    }

    public func contains(_ tag: Tag) -> Bool { index(of: tag).found }

    /// Inserts or replaces the element with the same tag.
    public mutating func set(_ element: DataElement) {
        let (found, i) = index(of: element.tag)
        if found { elements[i] = element } else { elements.insert(element, at: i) }
        if element.tag == .specificCharacterSet {
            characterSet = SpecificCharacterSet(terms: strings(.specificCharacterSet) ?? [])
        }
    }

    public mutating func set(_ tag: Tag, _ vr: VR, _ string: String) {
        set(DataElement(tag: tag, vr: vr, string: string))
    }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        let (found, i) = index(of: tag)
        return found ? elements.remove(at: i) : nil
    }

    /// A copy without the elements for which `isIncluded` is false.
    public func filter(_ isIncluded: (DataElement) -> Bool) -> DataSet {
        DataSet(sortedElements: elements.filter(isIncluded), characterSet: characterSet)
    }
}

// MARK: - Typed access

extension DataSet {
    /// The values of a string element, decoded and with padding removed. Nil when absent.
    public func strings(_ tag: Tag) -> [String]? {
        guard let e = self[tag], case .bytes(let bytes) = e.value else { return nil }
        return ValueDecoding.strings(bytes, vr: e.vr, characterSet: characterSet)
    }

    /// The first value of a string element; nil when absent or empty.
    public func string(_ tag: Tag) -> String? {
        guard let first = strings(tag)?.first, !first.isEmpty else { return nil }
        return first
    }

    /// The whole value of a string element as one string (values joined by backslash); nil when absent.
    public func joinedString(_ tag: Tag) -> String? {
        strings(tag)?.joined(separator: "\\")
    }

    /// Integer values of a binary (US, SS, UL, SL, SV, UV) or IS element.
    public func integers(_ tag: Tag) -> [Int]? {
        guard let e = self[tag], case .bytes(let bytes) = e.value else { return nil }
        return ValueDecoding.integers(bytes, vr: e.vr)
    }

    public func integer(_ tag: Tag) -> Int? { integers(tag)?.first }

    /// Floating point values of FL, FD, DS (and integer VRs, converted).
    public func doubles(_ tag: Tag) -> [Double]? {
        guard let e = self[tag], case .bytes(let bytes) = e.value else { return nil }
        return ValueDecoding.doubles(bytes, vr: e.vr)
    }

    public func double(_ tag: Tag) -> Double? { doubles(tag)?.first }

    public func items(_ tag: Tag) -> [DataSet]? { self[tag]?.items }
}
