import Archive
import Foundation

/// Who is asking, established from credentials: what it may do and for which patients.
public struct Identity: Sendable, Equatable {
    /// How the identity was established.
    public enum Kind: String, Sendable {
        /// A local user with a password (HTTP Basic).
        case user
        /// A local user through a browser session cookie.
        case session
        /// An API token.
        case token
        /// A bearer JWT from the site's OpenID Connect provider.
        case oidc
        /// A DICOM application entity (an association's calling AE title).
        case ae
        /// A request without credentials, on a node configured to accept those (`access.anonymous`).
        case anonymous
    }

    public let name: String
    public let kind: Kind
    public let roles: [String]
    public let permissions: PermissionSet
    /// Patient IDs the identity is limited to; nil: every patient.
    public let patients: Set<String>?
    /// The peer's network address.
    public let address: String?
    /// For a session: the token a state-changing request must carry (`X-CSRF-Token` or form field `csrf`).
    public let csrfToken: String?

    public init(name: String, kind: Kind, roles: [String], permissions: PermissionSet, patients: Set<String>? = nil,
                address: String? = nil, csrfToken: String? = nil) {
        self.name = name
        self.kind = kind
        self.roles = roles
        self.permissions = permissions
        self.patients = patients
        self.address = address
        self.csrfToken = csrfToken
    }

    public func may(_ permission: Permission) -> Bool { permissions.contains(permission) }

    /// Whether what the identity may read (or search) is limited to clinical photographs: it has
    /// `photos:read` but not `read` (`search`).
    public var readsPhotosOnly: Bool { !may(.read) && may(.readPhotos) }
    public var searchesPhotosOnly: Bool { !may(.search) && may(.readPhotos) }

    /// Whether the identity may touch data of this patient (always, unless limited to some).
    public func mayAccess(patient: String?) -> Bool {
        guard let patients else { return true }
        guard let patient else { return false }
        return patients.contains(patient)
    }

    /// An audit entry with this identity as the actor.
    public func audit(_ action: AuditRecord.Action, outcome: AuditRecord.Outcome = .success, patientID: String? = nil,
                      studyInstanceUID: String? = nil, seriesInstanceUID: String? = nil, sopInstanceUID: String? = nil,
                      detail: String? = nil) -> AuditRecord {
        AuditRecord(actor: name, actorKind: actorKind, address: address, action: action, outcome: outcome, patientID: patientID,
                    studyInstanceUID: studyInstanceUID, seriesInstanceUID: seriesInstanceUID, sopInstanceUID: sopInstanceUID,
                    detail: detail)
    }

    var actorKind: AuditRecord.ActorKind {
        switch kind {
        case .user: .user
        case .session: .session
        case .token: .token
        case .oidc: .oidc
        case .ae: .ae
        case .anonymous: .anonymous
        }
    }
}
