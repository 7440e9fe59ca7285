import DICOM

/// A DIMSE operation that ends in a non-success status, with the Error Comment to send.
public struct DIMSEFailure: Error, Sendable, CustomStringConvertible {
    public let status: DIMSEStatus
    public let comment: String

    public init(_ status: DIMSEStatus, _ comment: String) {
        self.status = status
        self.comment = comment
    }

    public var description: String { "\(status): \(comment)" }
}
