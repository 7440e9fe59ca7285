/// A transfer syntax: how a data set is encoded after the file meta information (PS3.5 10).
public struct TransferSyntax: Hashable, Sendable, CustomStringConvertible {
    public let uid: String
    public let isExplicitVR: Bool
    public let isBigEndian: Bool
    public let isDeflated: Bool
    /// Pixel data in encapsulated (compressed) form.
    public let isEncapsulated: Bool

    public init(uid: String) {
        self.uid = uid
        switch uid {
        case Self.implicitVRLittleEndian.uid:
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (false, false, false, false)
        case Self.explicitVRBigEndian.uid:
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, true, false, false)
        case Self.deflatedExplicitVRLittleEndian.uid:
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, false, true, false)
        case Self.explicitVRLittleEndian.uid, "1.2.840.10008.1.2.1.98" /* encapsulated uncompressed has fragments */:
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, false, false, uid.hasSuffix(".98"))
        default:
            // Every other standard transfer syntax is explicit VR little endian with encapsulated pixel data.
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, false, false, true)
        }
    }

    private init(uid: String, explicit: Bool, bigEndian: Bool, deflated: Bool, encapsulated: Bool) {
        self.uid = uid
        self.isExplicitVR = explicit
        self.isBigEndian = bigEndian
        self.isDeflated = deflated
        self.isEncapsulated = encapsulated
    }

    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2", explicit: false, bigEndian: false, deflated: false, encapsulated: false)
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1", explicit: true, bigEndian: false, deflated: false, encapsulated: false)
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.99", explicit: true, bigEndian: false, deflated: true, encapsulated: false)
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2", explicit: true, bigEndian: true, deflated: false, encapsulated: false)

    /// Native (uncompressed) pixel data.
    public var isNative: Bool { !isEncapsulated }

    /// Whether `uid` is a transfer syntax UID of the standard (1.2.840.10008.1.2 and below).
    public static func isStandard(_ uid: String) -> Bool {
        uid == "1.2.840.10008.1.2" || uid.hasPrefix("1.2.840.10008.1.2.")
    }

    public var description: String { uid }
}
