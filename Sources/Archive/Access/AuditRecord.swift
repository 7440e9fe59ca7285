import Foundation

/// One entry of the audit trail: when, who (and from where), what, and how it ended.
public struct AuditRecord: Sendable, Equatable, Codable {
    /// What was done. Raw values are what `/api/audit` shows and filters on.
    public enum Action: String, Sendable, Codable, CaseIterable {
        case login, logout
        case query, retrieve, store, delete, export
        case alertAcknowledged = "alert-acknowledged"
        case findingReviewed = "finding-reviewed"
        case userChanged = "user-changed"
        case tokenChanged = "token-changed"
        /// A request or association refused for want of credentials or permission.
        case accessDenied = "access-denied"
        case applicationStart = "application-start"
        case applicationStop = "application-stop"
    }

    public enum Outcome: String, Sendable, Codable {
        case success
        /// The request was refused or failed because of what was asked (a wrong password, no permission).
        case failure
        /// The node failed (storage, index).
        case error
    }

    /// Whether the actor is a local user, a session, an API token, an OIDC subject, a DICOM AE or the node.
    public enum ActorKind: String, Sendable, Codable {
        case user, session, token, oidc, ae, system, anonymous
    }

    /// Sequence number (0 before it is written).
    public var sequence: Int64
    public var time: Date
    public var actor: String
    public var actorKind: ActorKind
    /// The peer's network address.
    public var address: String?
    public var action: Action
    public var outcome: Outcome
    /// Filled from the study or instance when not given (patient data the action touched).
    public var patientID: String?
    public var studyInstanceUID: String?
    public var seriesInstanceUID: String?
    public var sopInstanceUID: String?
    /// The query, the target, the reason for a failure: free text.
    public var detail: String?

    public init(time: Date = Date(), actor: String, actorKind: ActorKind, address: String?, action: Action,
                outcome: Outcome = .success, patientID: String? = nil, studyInstanceUID: String? = nil,
                seriesInstanceUID: String? = nil, sopInstanceUID: String? = nil, detail: String? = nil) {
        self.sequence = 0
        self.time = time
        self.actor = actor
        self.actorKind = actorKind
        self.address = address
        self.action = action
        self.outcome = outcome
        self.patientID = patientID
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
        self.sopInstanceUID = sopInstanceUID
        self.detail = detail
    }
}

/// Which audit entries to read (every field narrows; nil: any).
public struct AuditFilter: Sendable, Equatable {
    public var actor: String?
    public var patientID: String?
    public var action: AuditRecord.Action?
    public var from: Date?
    public var to: Date?
    /// Entries after this sequence number (paging forward).
    public var after: Int64?
    public var limit: Int
    /// The newest `limit` entries, newest first (else the oldest, oldest first).
    public var newestFirst = false

    public init(actor: String? = nil, patientID: String? = nil, action: AuditRecord.Action? = nil, from: Date? = nil,
                to: Date? = nil, after: Int64? = nil, limit: Int = 1000) {
        self.actor = actor
        self.patientID = patientID
        self.action = action
        self.from = from
        self.to = to
        self.after = after
        self.limit = limit
    }
}
