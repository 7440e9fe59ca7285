import Archive
import Dispatch
import Foundation
import Logging
import Synchronization

/// Establishes identities from credentials (local users, API tokens, sessions, OIDC JWTs) against
/// the archive's records, and keeps users, tokens and sessions. Protocol-agnostic: the HTTP and
/// DIMSE services turn their requests into `Credential`s and ask here.
public final class AccessControl: Sendable {
    /// What a request presents.
    public enum Credential: Sendable {
        /// HTTP Basic.
        case basic(user: String, password: String)
        /// `Authorization: Bearer`: an API token (`loupe_…`) or an OIDC JWT.
        case bearer(String)
        /// A browser session cookie's value.
        case session(String)
    }

    public let archive: Archive
    public let configuration: AccessConfiguration
    /// Entries of actions without a transaction of their own.
    public let auditLog: AuditLog
    let hasher = PasswordHasher()
    let throttle: LoginThrottle
    let oidc: OIDCVerifier?
    let logger: Logger
    /// Passwords verified recently: SHA-256(name, password, stored hash) → until when. Basic
    /// credentials come with every request and Argon2id takes tens of milliseconds by design; a
    /// changed password changes the stored hash, so it never matches a stale entry.
    private let verifiedPasswords = Mutex<[String: Date]>([:])
    /// When each token's and session's last use was written (writes are throttled to one a minute).
    private let recordedUse = Mutex<[String: Date]>([:])

    static let verifiedPasswordLifetime: TimeInterval = 5 * 60
    static let useRecordInterval: TimeInterval = 60

    public init(archive: Archive, configuration: AccessConfiguration, logger: Logger = Logger(label: "loupe.access")) {
        self.archive = archive
        self.configuration = configuration
        self.auditLog = AuditLog(archive: archive)
        self.throttle = LoginThrottle(policy: configuration.throttle)
        self.oidc = configuration.oidc.map { OIDCVerifier(configuration: $0) }
        self.logger = logger
    }

    /// The identity a credential proves, or `unauthenticated` with the reason (`rateLimited` for a
    /// user or address with too many failed logins). Failures are audited.
    public func authenticate(_ credential: Credential, address: String?, now: Date = Date()) async throws(AccessError) -> Identity {
        do throws(AccessError) {
            switch credential {
            case .basic(let user, let password):
                return try await offload { () throws(AccessError) in try self.verifyPassword(user: user, password: password, address: address, now: now, kind: .user) }
            case .bearer(let token) where token.hasPrefix(Secret.tokenPrefix):
                return try await offload { () throws(AccessError) in try self.verifyToken(token, address: address, now: now) }
            case .bearer(let token):
                guard let oidc else {
                    throw AccessError.unauthenticated("bearer token is not a Loupe API token, and no OpenID Connect issuer is configured")
                }
                let claims = try await oidc.verify(token, now: now)
                // Providers send roles of their own too (offline_access, …): only Loupe's count.
                let roles = claims.roles.filter { configuration.roles.roles[$0] != nil }
                return identity(name: claims.subject, kind: .oidc, roles: roles, patients: nil, address: address)
            case .session(let secret):
                return try await offload { () throws(AccessError) in try self.verifySession(secret, address: address, now: now) }
            }
        } catch {
            if error.kind == .unauthenticated || error.kind == .rateLimited {
                auditLog.record(AuditRecord(actor: credential.claimedName ?? "unknown", actorKind: credential.actorKind, address: address,
                                            action: credential.isPassword ? .login : .accessDenied, outcome: .failure,
                                            detail: error.message))
            }
            throw error
        }
    }

    // MARK: credentials

    func verifyPassword(user: String, password: String, address: String?, now: Date, kind: Identity.Kind) throws(AccessError) -> Identity {
        try throttle.check(user: user, address: address, now: now)
        let account = try record { () throws(AccessRecordError) in try archive.account(named: user) }
        guard let account, passwordMatches(password, account: account, now: now) else {
            if account == nil { _ = hasher.verify(password, against: Self.decoyHash) }  // the same time whether or not the user exists
            throttle.recordFailure(user: user, address: address, now: now)
            throw AccessError.unauthenticated("wrong user name or password")
        }
        throttle.recordSuccess(user: user)
        return identity(name: account.name, kind: kind, roles: account.roles, patients: account.patients, address: address)
    }

    private func passwordMatches(_ password: String, account: AccountRecord, now: Date) -> Bool {
        let key = Secret.hash(account.name + "\u{0}" + password + "\u{0}" + account.passwordHash)
        if let until = verifiedPasswords.withLock({ $0[key] }), until > now { return true }
        guard hasher.verify(password, against: account.passwordHash) else { return false }
        verifiedPasswords.withLock { cache in
            if cache.count > 10_000 { cache = cache.filter { $0.value > now } }
            cache[key] = now.addingTimeInterval(Self.verifiedPasswordLifetime)
        }
        return true
    }

    /// A hash of a random password (made once), verified when the user does not exist.
    private static let decoyHash = (try? PasswordHasher().hash(Secret.generate())) ?? ""

    func verifyToken(_ secret: String, address: String?, now: Date) throws(AccessError) -> Identity {
        let hash = Secret.hash(secret)
        guard let token = try record({ () throws(AccessRecordError) in try archive.token(secretHash: hash) }) else {
            throw AccessError.unauthenticated("unknown API token")
        }
        if token.revokedAt != nil { throw AccessError.unauthenticated("API token \(token.name) was revoked") }
        if let expires = token.expiresAt, expires <= now { throw AccessError.unauthenticated("API token \(token.name) expired") }
        if shouldRecordUse(of: "token:\(token.id)", now: now) {
            do { try archive.markTokenUsed(id: token.id, at: now) } catch {
                logger.warning("token use not recorded", metadata: ["reason": "\(error)"])
            }
        }
        return identity(name: token.name, kind: .token, roles: token.roles, patients: token.patients, address: address)
    }

    func verifySession(_ secret: String, address: String?, now: Date) throws(AccessError) -> Identity {
        let hash = Secret.hash(secret)
        guard let session = try record({ () throws(AccessRecordError) in try archive.session(secretHash: hash) }) else {
            throw AccessError.unauthenticated("no such session (logged out or expired)")
        }
        let policy = configuration.sessions
        if now.timeIntervalSince(session.lastSeenAt) > policy.idleTimeout || now.timeIntervalSince(session.createdAt) > policy.absoluteTimeout {
            _ = try? archive.removeSession(secretHash: hash, audit: nil)
            throw AccessError.unauthenticated("session expired; log in again")
        }
        if shouldRecordUse(of: "session:\(hash)", now: now) {
            do { try archive.touchSession(secretHash: hash, at: now) } catch {
                logger.warning("session use not recorded", metadata: ["reason": "\(error)"])
            }
        }
        let account = session.account
        return identity(name: account.name, kind: .session, roles: account.roles, patients: account.patients, address: address,
                        csrfToken: session.csrfToken)
    }

    private func shouldRecordUse(of key: String, now: Date) -> Bool {
        recordedUse.withLock { table in
            if let last = table[key], now.timeIntervalSince(last) < Self.useRecordInterval { return false }
            if table.count > 100_000 { table.removeAll() }
            table[key] = now
            return true
        }
    }

    /// The identity of a holder of these roles. Roles the configuration no longer defines grant nothing.
    func identity(name: String, kind: Identity.Kind, roles: [String], patients: [String]?, address: String?,
                  csrfToken: String? = nil) -> Identity {
        var permissions = PermissionSet([String]())
        for role in roles {
            if let known = configuration.roles.roles[role] {
                permissions.formUnion(known.permissions)
            } else {
                logger.warning("a role is not defined (any more); it grants nothing", metadata: ["role": "\(role)", "holder": "\(name)"])
            }
        }
        return Identity(name: name, kind: kind, roles: roles, permissions: permissions, patients: patients.map(Set.init),
                        address: address, csrfToken: csrfToken)
    }

    func record<T>(_ work: () throws(AccessRecordError) -> T) throws(AccessError) -> T {
        do { return try work() } catch { throw AccessError(error) }
    }

    /// Runs blocking work (the index, Argon2id) off the Swift concurrency pool.
    func offload<T: Sendable>(_ work: @escaping @Sendable () throws(AccessError) -> T) async throws(AccessError) -> T {
        let result: Result<T, AccessError> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: Result { () throws(AccessError) -> T in try work() })
            }
        }
        return try result.get()
    }
}

extension AccessControl.Credential {
    /// The user a credential names, for the audit trail of a failure (never a secret).
    var claimedName: String? {
        if case .basic(let user, _) = self { return user }
        return nil
    }

    var isPassword: Bool {
        if case .basic = self { return true }
        return false
    }

    var actorKind: AuditRecord.ActorKind {
        switch self {
        case .basic: .user
        case .bearer(let token): token.hasPrefix(Secret.tokenPrefix) ? .token : .oidc
        case .session: .session
        }
    }
}
