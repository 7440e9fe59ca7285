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
    /// Stored roles the configuration no longer defines, warned about once each.
    private let unknownRoles = Mutex<Set<String>>([])
    /// Records by secret hash (or user name), valid until the next commit to the index.
    private let tokenCache = RecordCache<TokenRecord>()
    private let sessionCache = RecordCache<SessionRecord>()
    private let accountCache = RecordCache<AccountRecord>()

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
                // Basic comes with every request: a password verified a moment ago is recognised inline.
                if let identity = try recentlyVerified(user: user, password: password, address: address, now: now, kind: .user) {
                    return identity
                }
                return try await offload { () throws(AccessError) in try self.verifyPassword(user: user, password: password, address: address, now: now, kind: .user) }
            case .bearer(let token) where token.hasPrefix(Secret.tokenPrefix):
                // Inline: one indexed read of a small table costs less than a hop to another thread
                // (this runs on every request; bench/dicomweb measures it).
                return try verifyToken(token, address: address, now: now)
            case .bearer(let token):
                guard let oidc else {
                    throw AccessError.unauthenticated("bearer token is not a Loupe API token, and no OpenID Connect issuer is configured")
                }
                let claims = try await oidc.verify(token, now: now)
                // Providers send roles of their own too (offline_access, …): only Loupe's count.
                let roles = claims.roles.filter { configuration.roles.roles[$0] != nil }
                return identity(name: claims.subject, kind: .oidc, roles: roles, patients: nil, address: address)
            case .session(let secret):
                let (archive, logger, hash) = (self.archive, self.logger, Secret.hash(secret))
                let checked: (Identity, touch: Bool)
                do throws(AccessError) {
                    checked = try verifySession(secret, address: address, now: now)
                } catch where error.message == AccessControl.sessionExpired.message {
                    try await offload { () throws(AccessError) in _ = try? archive.removeSession(secretHash: hash, audit: nil) }
                    throw error
                }
                if checked.touch {  // once a minute: the idle timeout counts from here
                    try await offload { () throws(AccessError) in
                        do { try archive.touchSession(secretHash: hash, at: now) } catch {
                            logger.warning("session use not recorded", metadata: ["reason": "\(error)"])
                        }
                    }
                }
                return checked.0
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

    /// The identity of a request without credentials: the configured anonymous role, or nil
    /// (refused) as by default.
    public func anonymous(address: String?) -> Identity? {
        configuration.anonymousRole.map { identity(name: "anonymous", kind: .anonymous, roles: [$0], patients: nil, address: address) }
    }

    // MARK: credentials

    /// A password check: throttled, then Argon2id.
    func verifyPassword(user: String, password: String, address: String?, now: Date, kind: Identity.Kind) throws(AccessError) -> Identity {
        if let identity = try recentlyVerified(user: user, password: password, address: address, now: now, kind: kind) { return identity }
        try throttle.begin(user: user, address: address, now: now)
        let account = try account(named: user)
        guard let account, verifyLimited(password, against: account.passwordHash) else {
            if account == nil { _ = verifyLimited(password, against: Self.decoyHash) }  // the same time whether or not the user exists
            throw AccessError.unauthenticated("wrong user name or password")
        }
        verifiedPasswords.withLock { cache in
            if cache.count > 10_000 { cache = cache.filter { $0.value > now } }
            cache[Self.verificationKey(password, account)] = now.addingTimeInterval(Self.verifiedPasswordLifetime)
        }
        throttle.succeeded(user: user, address: address, now: now)
        return identity(name: account.name, kind: kind, roles: account.roles, patients: account.patients, address: address)
    }

    /// The identity of a password verified within `verifiedPasswordLifetime` (against the hash the
    /// index holds now: a new password has a new hash); nil otherwise. Knowing the password is no
    /// guess, so neither the throttle nor Argon2id is involved.
    private func recentlyVerified(user: String, password: String, address: String?, now: Date, kind: Identity.Kind) throws(AccessError) -> Identity? {
        guard let account = try account(named: user),
              let until = verifiedPasswords.withLock({ $0[Self.verificationKey(password, account)] }), until > now else { return nil }
        return identity(name: account.name, kind: kind, roles: account.roles, patients: account.patients, address: address)
    }

    private func account(named user: String) throws(AccessError) -> AccountRecord? {
        try accountCache.value(for: user, version: try changeCounter()) { () throws(AccessError) in
            try record { () throws(AccessRecordError) in try archive.account(named: user) }
        }
    }

    private static func verificationKey(_ password: String, _ account: AccountRecord) -> String {
        Secret.hash(account.name + "\u{0}" + password + "\u{0}" + account.passwordHash)
    }

    /// Argon2id verifications at once (each takes 19 MiB and tens of milliseconds): a flood of
    /// password guesses queues here instead of exhausting memory and cores.
    private static let argon2Slots = DispatchSemaphore(value: 4)

    private func verifyLimited(_ password: String, against hash: String) -> Bool {
        Self.argon2Slots.wait()
        defer { Self.argon2Slots.signal() }
        return hasher.verify(password, against: hash)
    }

    /// A hash of a random password (made once), verified when the user does not exist.
    private static let decoyHash = (try? PasswordHasher().hash(Secret.generate())) ?? ""

    func verifyToken(_ secret: String, address: String?, now: Date) throws(AccessError) -> Identity {
        let hash = Secret.hash(secret)
        let found = try tokenCache.value(for: hash, version: try changeCounter()) { () throws(AccessError) in
            try record { () throws(AccessRecordError) in try archive.token(secretHash: hash) }
        }
        guard let token = found else { throw AccessError.unauthenticated("unknown API token") }
        if token.revokedAt != nil { throw AccessError.unauthenticated("API token \(token.name) was revoked") }
        if let expires = token.expiresAt, expires <= now { throw AccessError.unauthenticated("API token \(token.name) expired") }
        if shouldRecordUse(of: "token:\(token.id)", now: now) {
            let (archive, logger, id) = (self.archive, self.logger, token.id)
            DispatchQueue.global(qos: .utility).async {  // a write: never on the request's path
                do { try archive.markTokenUsed(id: id, at: now) } catch {
                    logger.warning("token use not recorded", metadata: ["reason": "\(error)"])
                }
            }
        }
        return identity(name: token.name, kind: .token, roles: token.roles, patients: token.patients, address: address)
    }

    static let sessionExpired = AccessError.unauthenticated("session expired; log in again")

    /// The session's identity, and whether its last use should be written now.
    func verifySession(_ secret: String, address: String?, now: Date) throws(AccessError) -> (Identity, touch: Bool) {
        let hash = Secret.hash(secret)
        let found = try sessionCache.value(for: hash, version: try changeCounter()) { () throws(AccessError) in
            try record { () throws(AccessRecordError) in try archive.session(secretHash: hash) }
        }
        guard let session = found else { throw AccessError.unauthenticated("no such session (logged out or expired)") }
        let policy = configuration.sessions
        if now.timeIntervalSince(session.lastSeenAt) > policy.idleTimeout || now.timeIntervalSince(session.createdAt) > policy.absoluteTimeout {
            throw Self.sessionExpired
        }
        let touch = shouldRecordUse(of: "session:\(hash)", now: now)
        let account = session.account
        return (identity(name: account.name, kind: .session, roles: account.roles, patients: account.patients, address: address,
                         csrfToken: session.csrfToken), touch)
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
            } else if unknownRoles.withLock({ $0.insert(role).inserted }) {
                logger.warning("a role is not defined (any more); it grants nothing", metadata: ["role": "\(role)", "holder": "\(name)"])
            }
        }
        return Identity(name: name, kind: kind, roles: roles, permissions: permissions, patients: patients.map(Set.init),
                        address: address, csrfToken: csrfToken)
    }

    /// See `RecordCache`.
    private func changeCounter() throws(AccessError) -> Int64 {
        try record { () throws(AccessRecordError) in try archive.changeCounter() }
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
