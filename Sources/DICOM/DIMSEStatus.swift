/// DIMSE status codes (PS3.7 Annex C, PS3.4 B.2.3 and C.4), in one place with their meaning.
public struct DIMSEStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let success = DIMSEStatus(rawValue: 0x0000)
    /// Matches are continuing (C-FIND), or sub-operations are continuing (C-MOVE, C-GET).
    public static let pending = DIMSEStatus(rawValue: 0xFF00)
    /// Pending, but one or more optional keys were not supported for existence or matching.
    public static let pendingWithUnsupportedKeys = DIMSEStatus(rawValue: 0xFF01)
    /// The operation was cancelled by a C-CANCEL request.
    public static let cancel = DIMSEStatus(rawValue: 0xFE00)

    /// C-STORE warning: data element coercion.
    public static let coercionOfDataElements = DIMSEStatus(rawValue: 0xB000)
    /// C-STORE warning: elements discarded.
    public static let elementsDiscarded = DIMSEStatus(rawValue: 0xB006)
    /// C-STORE warning: data set does not match SOP class.
    public static let dataSetDoesNotMatchSOPClassWarning = DIMSEStatus(rawValue: 0xB007)
    /// C-MOVE/C-GET warning: sub-operations complete, one or more failures or warnings.
    public static let subOperationsCompleteWithFailures = DIMSEStatus(rawValue: 0xB000)

    /// Refused: out of resources (C-STORE: storage full).
    public static let outOfResources = DIMSEStatus(rawValue: 0xA700)
    /// C-MOVE/C-GET refused: out of resources, unable to calculate the number of matches.
    public static let outOfResourcesMatches = DIMSEStatus(rawValue: 0xA701)
    /// C-MOVE/C-GET refused: out of resources, unable to perform sub-operations.
    public static let outOfResourcesSubOperations = DIMSEStatus(rawValue: 0xA702)
    /// C-MOVE refused: move destination unknown.
    public static let moveDestinationUnknown = DIMSEStatus(rawValue: 0xA801)
    /// Error: data set does not match SOP class (C-STORE), identifier does not match SOP class (C-FIND/MOVE/GET).
    public static let dataSetDoesNotMatchSOPClass = DIMSEStatus(rawValue: 0xA900)
    /// Error: cannot understand (0xC000–0xCFFF).
    public static let cannotUnderstand = DIMSEStatus(rawValue: 0xC000)
    /// C-FIND/MOVE/GET failed: unable to process.
    public static let unableToProcess = DIMSEStatus(rawValue: 0xC001)
    /// The SOP class is not supported.
    public static let sopClassNotSupported = DIMSEStatus(rawValue: 0x0122)
    /// General failure: processing failure.
    public static let processingFailure = DIMSEStatus(rawValue: 0x0110)
    /// General failure: refused, not authorized (PS3.7 C.5.4): the peer may not use this service,
    /// or not for this patient.
    public static let notAuthorized = DIMSEStatus(rawValue: 0x0124)
    /// The SOP instance is already known and was not stored again (used as a warning by some peers).
    public static let duplicateSOPInstance = DIMSEStatus(rawValue: 0x0111)

    public var isSuccess: Bool { rawValue == 0x0000 }
    public var isPending: Bool { rawValue == 0xFF00 || rawValue == 0xFF01 }
    public var isWarning: Bool { (0xB000...0xBFFF).contains(rawValue) || rawValue == 0x0001 || rawValue == 0x0107 || rawValue == 0x0116 }
    public var isFailure: Bool { !isSuccess && !isPending && !isWarning && rawValue != 0xFE00 }

    public var description: String {
        let hex = String(rawValue, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
