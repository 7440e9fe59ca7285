import Foundation

/// A local user as the index keeps it. The archive stores what it is given (a password hash, role
/// names); what they mean is the `Access` module's business.
public struct AccountRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    /// An encoded Argon2id hash (`$argon2id$v=19$...`).
    public var passwordHash: String
    public var roles: [String]
    /// Patient IDs the user is limited to; nil: every patient.
    public var patients: [String]?
    public var createdAt: String
    public var updatedAt: String
}

/// An API token (a device's or a script's credential). Only the SHA-256 of its secret is kept.
public struct TokenRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var secretHash: String
    public var roles: [String]
    public var patients: [String]?
    public var createdBy: String
    public var createdAt: String
    public var expiresAt: Date?
    public var revokedAt: String?
    public var lastUsedAt: String?

    public init(id: Int64 = 0, name: String, secretHash: String, roles: [String], patients: [String]?, createdBy: String,
                createdAt: String = "", expiresAt: Date?, revokedAt: String? = nil, lastUsedAt: String? = nil) {
        self.id = id
        self.name = name
        self.secretHash = secretHash
        self.roles = roles
        self.patients = patients
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// A browser session: the SHA-256 of the cookie's secret, its user and its CSRF token.
public struct SessionRecord: Sendable, Equatable {
    public var secretHash: String
    public var account: AccountRecord
    public var csrfToken: String
    public var address: String?
    public var createdAt: Date
    public var lastSeenAt: Date
}

/// Why an access record could not be read or written.
public struct AccessRecordError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case notFound
        /// A user or token of that name exists already.
        case duplicate
        case index
    }

    public let reason: Reason
    public let description: String

    public init(_ reason: Reason, _ description: String) {
        self.reason = reason
        self.description = description
    }
}
