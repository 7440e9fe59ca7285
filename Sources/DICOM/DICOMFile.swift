/// A parsed DICOM file: file meta information, the data set, and where the data set starts.
public struct DICOMFile: Sendable {
    /// Group 0002 elements (empty when the file has no meta information).
    public var meta: DataSet
    public var dataSet: DataSet
    /// The transfer syntax of the data set: from the meta information, else detected from the bytes.
    public var transferSyntax: TransferSyntax
    /// Byte offset of the first data set element in the file.
    public var dataSetOffset: Int
    /// True when the file has the 128-byte preamble, "DICM" and meta information (PS3.10 7.1).
    public var isPart10: Bool
    /// When reading stopped early (`ReadOptions.stopAt`): the offset of the first element not loaded.
    public var stoppedAtOffset: Int?
    /// Top-level elements that were walked but not loaded (with `verifyRemainder`), e.g. Pixel Data.
    public var skippedElements: [SkippedElement] = []

    public var sopClassUID: String? { dataSet.string(.sopClassUID) ?? meta.string(.mediaStorageSOPClassUID) }
    public var sopInstanceUID: String? { dataSet.string(.sopInstanceUID) ?? meta.string(.mediaStorageSOPInstanceUID) }
}

/// An element that reading passed over without loading its value, and where that value lies.
public struct SkippedElement: Sendable, Equatable {
    public let tag: Tag
    public let vr: VR
    /// True for encapsulated (fragmented) values.
    public let isEncapsulated: Bool
    /// The value's bytes (for encapsulated values: all items up to the delimiter), as offsets into
    /// what was read — the file, unless the data set is deflated.
    public let valueRange: Range<Int>
    /// Encapsulated values: each item's bytes, the Basic Offset Table first.
    public let fragmentRanges: [Range<Int>]
    /// The value's words are big endian (Explicit VR Big Endian).
    public let bigEndian: Bool
}

/// How much of a file to load.
public struct ReadOptions: Sendable {
    /// Top-level elements from this tag on are not loaded (e.g. `.pixelData` for indexing).
    public var stopAt: Tag?
    /// When stopping early, still walk the remaining element headers to make sure the file is complete.
    public var verifyRemainder: Bool
    /// Largest data set a deflated transfer syntax may inflate to.
    public var maximumInflatedBytes: Int

    public init(stopAt: Tag? = nil, verifyRemainder: Bool = false, maximumInflatedBytes: Int = 1 << 30) {
        self.stopAt = stopAt
        self.verifyRemainder = verifyRemainder
        self.maximumInflatedBytes = maximumInflatedBytes
    }

    public static let full = ReadOptions()
    /// Everything before Pixel Data, with the rest of the file checked for completeness: the indexing path.
    public static let headerOnly = ReadOptions(stopAt: .pixelData, verifyRemainder: true)
}
