import DICOM

/// Why an instance was not stored. Carries the statuses the protocols answer with.
public struct IngestError: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// The bytes are not DICOM (or are truncated/corrupt).
        case notDICOM
        /// A DICOMDIR: the index of a medium, not an instance to archive.
        case mediaDirectory
        /// A required attribute (SOP Class/Instance UID, Study/Series Instance UID) is missing or empty.
        case missingAttribute
        /// A UID is not a valid UID.
        case invalidUID
        /// A value is not what its attribute takes (a photo's metadata).
        case invalidAttribute
        /// The data set contradicts the request that carried it (e.g. a different SOP Instance UID).
        case mismatch
        /// The file could not be written (disk full, permissions).
        case storage
        /// The index could not be updated.
        case index
    }

    public let reason: Reason
    public let message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// The C-STORE response status for this failure (PS3.4 B.2.3).
    public var dimseStatus: DIMSEStatus {
        switch reason {
        case .notDICOM, .missingAttribute, .invalidUID, .invalidAttribute: return .cannotUnderstand
        case .mediaDirectory: return .sopClassNotSupported
        case .mismatch: return .dataSetDoesNotMatchSOPClass
        case .storage: return .outOfResources
        case .index: return .processingFailure
        }
    }

    /// The HTTP status for this failure when the instance came over HTTP.
    public var httpStatus: Int {
        switch reason {
        case .notDICOM, .missingAttribute, .invalidUID, .invalidAttribute: return 400
        case .mediaDirectory: return 415
        case .mismatch: return 409
        case .storage: return 507
        case .index: return 500
        }
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}
