/// A value representation (PS3.5 6.2).
public enum VR: String, Sendable, CaseIterable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// Parses the two ASCII bytes of an explicit VR.
    init?(byte0: UInt8, byte1: UInt8) {
        guard (65...90).contains(byte0), (65...90).contains(byte1) else { return nil }
        self.init(rawValue: String(decoding: [byte0, byte1], as: UTF8.self))
    }

    /// Explicit VR encodings of these use two reserved bytes and a 32-bit length (PS3.5 7.1.2).
    public var hasLongLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .UC, .UN, .UR, .UT, .SV, .UV: return true
        default: return false
        }
    }

    /// Character-string VRs.
    public var isString: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: return true
        default: return false
        }
    }

    /// String VRs whose bytes are interpreted through Specific Character Set (PS3.5 6.1.2.3).
    public var usesSpecificCharacterSet: Bool {
        switch self {
        case .SH, .LO, .ST, .LT, .PN, .UC, .UT: return true
        default: return false
        }
    }

    /// String VRs that carry exactly one value; a backslash in them is text, not a separator.
    public var isSingleValuedText: Bool {
        switch self {
        case .LT, .ST, .UT, .UR: return true
        default: return false
        }
    }

    /// Width in bytes of one binary value, for the VRs that byte-swap between endiannesses.
    public var binaryWordSize: Int? {
        switch self {
        case .US, .SS, .OW, .AT: return 2
        case .UL, .SL, .FL, .OF, .OL: return 4
        case .FD, .OD, .SV, .UV, .OV: return 8
        default: return nil
        }
    }

    /// Bulk binary VRs (other-byte, other-word, ...), which DICOM JSON carries as InlineBinary or BulkDataURI.
    public var isBulkBinary: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN: return true
        default: return false
        }
    }

    /// The byte that pads a value to even length.
    public var paddingByte: UInt8 { self == .UI ? 0x00 : (isString ? 0x20 : 0x00) }
}
