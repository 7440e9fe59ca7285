/// Why bytes could not be read or written as DICOM.
public enum DICOMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a DICOM file or data set at all.
    case notDICOM(String)
    /// The bytes end before the structure they announce (a value, item or sequence runs past the end).
    case truncated(offset: Int, String)
    /// The structure is inconsistent (an unknown VR, a length that cannot be, nesting too deep).
    case malformed(offset: Int, String)
    /// Valid DICOM that this reader cannot decode (e.g. deflated data that fails to inflate).
    case unsupported(String)

    public var description: String {
        switch self {
        case .notDICOM(let why): return "not DICOM: \(why)"
        case .truncated(let offset, let why): return "truncated at byte \(offset): \(why)"
        case .malformed(let offset, let why): return "malformed at byte \(offset): \(why)"
        case .unsupported(let why): return "unsupported: \(why)"
        }
    }
}
