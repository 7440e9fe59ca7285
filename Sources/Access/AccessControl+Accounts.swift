import Archive
import Foundation

/// Users, API tokens and browser sessions: created, changed and ended here, each change audited in
/// its own transaction. `actor` is who makes the change (an admin's identity, or the local operator
/// at the command line).
extension AccessControl {
    /// Shortest password accepted (NIST SP 800-63B's minimum for user-chosen ones).
    public static let minimumPasswordLength = 8

    // MARK: users

    public func addUser(name: String, password: String, roles: [String], patients: [String]? = nil,
                        actor: AuditRecord) throws(AccessError) {
        try Self.validateName(name, what: "user name")
        try configuration.roles.validate(roles)
        try Self.validatePatients(patients)
        if try tokens().contains(where: { $0.name == name }) { throw AccessError(.conflict, "a token is named \(name): users and tokens share names") }
        try Self.validatePassword(password)
        let hash = try hasher.hash(password)
        try record { () throws(AccessRecordError) in
            try archive.addAccount(name: name, passwordHash: hash, roles: roles, patients: patients,
                                   audit: change(actor, .userChanged, "user \(name) added with roles \(roles.joined(separator: ","))"))
        }
    }

    /// Sets a new password; the user's sessions end.
    public func setPassword(name: String, password: String, actor: AuditRecord) throws(AccessError) {
        try Self.validatePassword(password)
        let hash = try hasher.hash(password)
        try record { () throws(AccessRecordError) in
            try archive.updateAccount(name: name, passwordHash: hash, audit: change(actor, .userChanged, "password of user \(name) changed"))
        }
    }

    public func setRoles(name: String, roles: [String], actor: AuditRecord) throws(AccessError) {
        try configuration.roles.validate(roles)
        try record { () throws(AccessRecordError) in
            try archive.updateAccount(name: name, roles: roles,
                                      audit: change(actor, .userChanged, "roles of user \(name) set to \(roles.joined(separator: ","))"))
        }
    }

    public func removeUser(name: String, actor: AuditRecord) throws(AccessError) {
        try record { () throws(AccessRecordError) in
            try archive.removeAccount(name: name, audit: change(actor, .userChanged, "user \(name) removed"))
        }
    }

    public func users() throws(AccessError) -> [AccountRecord] {
        try record { () throws(AccessRecordError) in try archive.accounts() }
    }

    /// On the very first start (no user at all): creates `admin` with a random password and returns
    /// it; nil when any user exists.
    public func createInitialAdmin(actor: AuditRecord) throws(AccessError) -> String? {
        guard try record({ () throws(AccessRecordError) in try archive.accountCount() }) == 0 else { return nil }
        let password = Secret.password()
        do {
            try addUser(name: "admin", password: password, roles: ["admin"], actor: actor)
        } catch where error.kind == .conflict {
            return nil  // another process made it meanwhile
        }
        return password
    }

    // MARK: tokens

    /// Creates an API token; the secret is returned once and stored only as a hash.
    public func createToken(name: String, roles: [String], expires: Date? = nil, patients: [String]? = nil,
                            actor: AuditRecord) throws(AccessError) -> (token: TokenRecord, secret: String) {
        try Self.validateName(name, what: "token name")
        try configuration.roles.validate(roles)
        try Self.validatePatients(patients)
        if try users().contains(where: { $0.name == name }) { throw AccessError(.conflict, "a user is named \(name): users and tokens share names") }
        if let expires, expires <= Date() { throw AccessError(.invalid, "the expiry must be in the future") }
        let secret = Secret.token()
        let token = TokenRecord(name: name, secretHash: Secret.hash(secret), roles: roles, patients: patients,
                                createdBy: actor.actor, expiresAt: expires)
        var scope = "roles \(roles.joined(separator: ","))"
        if let patients { scope += ", limited to \(patients.count) patient(s)" }
        try record { () throws(AccessRecordError) in
            try archive.addToken(token, audit: change(actor, .tokenChanged, "token \(name) created with \(scope)"))
        }
        return (token, secret)
    }

    public func revokeToken(name: String, actor: AuditRecord) throws(AccessError) {
        try record { () throws(AccessRecordError) in
            try archive.revokeToken(name: name, audit: change(actor, .tokenChanged, "token \(name) revoked"))
        }
    }

    public func tokens() throws(AccessError) -> [TokenRecord] {
        try record { () throws(AccessRecordError) in try archive.tokens() }
    }

    /// Every user and every token that is neither revoked nor expired, as identities: what access
    /// rules of other systems (an MQTT broker's ACL) are derived from.
    public func holders(now: Date = Date()) throws(AccessError) -> [Identity] {
        let users = try self.users().map { identity(name: $0.name, kind: .user, roles: $0.roles, patients: $0.patients, address: nil) }
        let tokens = try self.tokens().filter { $0.revokedAt == nil && ($0.expiresAt.map { $0 > now } ?? true) }
            .map { identity(name: $0.name, kind: .token, roles: $0.roles, patients: $0.patients, address: nil) }
        return users + tokens
    }

    // MARK: sessions

    /// A new browser session after a password check (throttled like every login): the cookie's
    /// secret and the session's identity (with its CSRF token).
    public func login(user: String, password: String, address: String?, now: Date = Date()) async throws(AccessError)
        -> (secret: String, identity: Identity) {
        let identity: Identity
        do {
            identity = try await offload { () throws(AccessError) in
                try self.verifyPassword(user: user, password: password, address: address, now: now, kind: .session)
            }
        } catch {
            auditLog.record(AuditRecord(actor: user, actorKind: .user, address: address, action: .login, outcome: .failure,
                                        detail: error.message))
            throw error
        }
        let secret = Secret.generate()
        let csrf = Secret.generate()
        try await offload { () throws(AccessError) in
            guard let account = try self.record({ () throws(AccessRecordError) in try self.archive.account(named: user) }) else {
                throw AccessError.unauthenticated("wrong user name or password")
            }
            try self.record { () throws(AccessRecordError) in
                try self.archive.addSession(secretHash: Secret.hash(secret), accountID: account.id, csrfToken: csrf, address: address,
                                            at: now, audit: identity.audit(.login, detail: "session opened"))
            }
        }
        return (secret, Identity(name: identity.name, kind: .session, roles: identity.roles, permissions: identity.permissions,
                                 patients: identity.patients, address: address, csrfToken: csrf))
    }

    /// Ends a session (logout).
    public func logout(secret: String, identity: Identity) async throws(AccessError) {
        try await offload { () throws(AccessError) in
            try self.record { () throws(AccessRecordError) in
                try self.archive.removeSession(secretHash: Secret.hash(secret), audit: identity.audit(.logout))
            }
        }
    }

    /// Ends a session without a logout entry (a browser that logged in again replaced it).
    public func endSession(secret: String) async throws(AccessError) {
        try await offload { () throws(AccessError) in
            try self.record { () throws(AccessRecordError) in try self.archive.removeSession(secretHash: Secret.hash(secret), audit: nil) }
        }
    }

    /// Removes expired sessions; returns how many.
    public func pruneSessions(now: Date = Date()) throws(AccessError) -> Int {
        let policy = configuration.sessions
        return try record { () throws(AccessRecordError) in
            try archive.pruneSessions(idleBefore: now.addingTimeInterval(-policy.idleTimeout),
                                      openedBefore: now.addingTimeInterval(-policy.absoluteTimeout))
        }
    }

    // MARK: checks

    private func change(_ actor: AuditRecord, _ action: AuditRecord.Action, _ detail: String) -> AuditRecord {
        var entry = actor
        entry.time = Date()
        entry.action = action
        entry.outcome = .success
        entry.detail = detail + (actor.detail ?? "")
        return entry
    }

    /// Names the audit trail uses for actors that are not users or tokens.
    static let reservedNames: Set<String> = ["anonymous", "loupe", "unknown"]

    /// User and token names: 1–64 printable characters without spaces or `:` (HTTP Basic's separator),
    /// not one of the audit trail's own actors.
    static func validateName(_ name: String, what: String) throws(AccessError) {
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0 != ":" && $0 != "," }) else {
            throw AccessError(.invalid, "\(what) '\(name)' must be 1 to 64 characters without spaces, ',' or ':'")
        }
        guard !reservedNames.contains(name.lowercased()) else { throw AccessError(.invalid, "\(what) '\(name)' is reserved") }
    }

    static func validatePatients(_ patients: [String]?) throws(AccessError) {
        if let patients, patients.isEmpty || patients.contains(where: \.isEmpty) {
            throw AccessError(.invalid, "a limit to patients needs at least one non-empty Patient ID")
        }
    }

    static func validatePassword(_ password: String) throws(AccessError) {
        guard password.count >= minimumPasswordLength else {
            throw AccessError(.invalid, "a password needs at least \(minimumPasswordLength) characters")
        }
        guard password.count <= 1024 else { throw AccessError(.invalid, "a password may have at most 1024 characters") }
    }
}
