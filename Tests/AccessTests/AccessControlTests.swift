@testable import Access
import Archive
import Foundation
import GRDB
import LoupeTestSupport
import Testing

/// Users, tokens and sessions against a real archive (SQLite in a temporary directory).
@Suite struct AccessControlTests {
    let store: TemporaryArchive
    let access: AccessControl
    static let actor = AuditRecord(actor: "cli:test", actorKind: .system, address: nil, action: .userChanged)

    init() throws {
        store = try TemporaryArchive()
        access = AccessControl(archive: store.archive, configuration: AccessConfiguration(roles: try RoleCatalog()))
    }

    @Test func passwordsAreArgon2idHashesThatVerify() throws {
        let hasher = PasswordHasher()
        let a = try hasher.hash("correct horse battery staple")
        let b = try hasher.hash("correct horse battery staple")
        #expect(a.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(a != b)  // salted
        #expect(hasher.verify("correct horse battery staple", against: a))
        #expect(!hasher.verify("correct horse battery stapler", against: a))
        #expect(!hasher.verify("anything", against: "not a hash"))
    }

    @Test func aUserLogsInWithBasicCredentials() async throws {
        try access.addUser(name: "rad", password: "s3cret-pass", roles: ["radiologist"], actor: Self.actor)
        let identity = try await access.authenticate(.basic(user: "rad", password: "s3cret-pass"), address: "10.0.0.1")
        #expect(identity.name == "rad" && identity.kind == .user)
        #expect(identity.may(.read) && identity.may(.similar) && identity.may(.phi) && !identity.may(.store) && !identity.may(.admin))
        // The stored record holds a hash, never the password.
        let record = try #require(try store.archive.account(named: "rad"))
        #expect(record.passwordHash.hasPrefix("$argon2id$") && !record.passwordHash.contains("s3cret-pass"))
        await #expect(throws: AccessError.unauthenticated("wrong user name or password")) {
            try await access.authenticate(.basic(user: "rad", password: "wrong-pass"), address: "10.0.0.1")
        }
        await #expect(throws: AccessError.unauthenticated("wrong user name or password")) {
            try await access.authenticate(.basic(user: "nobody", password: "s3cret-pass"), address: "10.0.0.1")
        }
    }

    @Test func weakPasswordsAndBadNamesAreRefused() throws {
        #expect(throws: AccessError.self) { try access.addUser(name: "u", password: "short", roles: ["nurse"], actor: Self.actor) }
        #expect(throws: AccessError.self) { try access.addUser(name: "a:b", password: "long enough", roles: ["nurse"], actor: Self.actor) }
        #expect(throws: AccessError.self) { try access.addUser(name: "u", password: "long enough", roles: ["wizard"], actor: Self.actor) }
        #expect(throws: AccessError.self) { try access.addUser(name: "u", password: "long enough", roles: [], actor: Self.actor) }
        try access.addUser(name: "u", password: "long enough", roles: ["nurse"], actor: Self.actor)
        #expect { try access.addUser(name: "u", password: "long enough", roles: ["nurse"], actor: Self.actor) } throws: { error in
            (error as? AccessError)?.kind == .conflict
        }
    }

    @Test func failedLoginsAreThrottledPerUser() async throws {
        try access.addUser(name: "nurse1", password: "right-password", roles: ["nurse"], actor: Self.actor)
        let now = Date()
        for _ in 0..<5 {
            _ = try? await access.authenticate(.basic(user: "nurse1", password: "guess"), address: "10.0.0.9", now: now)
        }
        // The sixth try is refused even with the right password, until the window has passed.
        await #expect { try await access.authenticate(.basic(user: "nurse1", password: "right-password"), address: "10.0.0.8", now: now) }
            throws: { ($0 as? AccessError)?.kind == .rateLimited }
        let later = now.addingTimeInterval(15 * 60 + 1)
        let identity = try await access.authenticate(.basic(user: "nurse1", password: "right-password"), address: "10.0.0.8", now: later)
        #expect(identity.name == "nurse1")
    }

    @Test func failedLoginsAreThrottledPerAddress() throws {
        let throttle = LoginThrottle(policy: { var p = LoginThrottle.Policy(); p.maxFailuresPerAddress = 3; return p }())
        let now = Date()
        for user in ["a", "b", "c"] { try throttle.begin(user: user, address: "192.0.2.7", now: now) }  // three failures
        #expect(throws: AccessError.self) { try throttle.begin(user: "d", address: "192.0.2.7", now: now) }
        try throttle.begin(user: "d", address: "192.0.2.8", now: now)
        throttle.succeeded(user: "d", address: "192.0.2.8", now: now)
        // Attempts count as soon as they begin: parallel guesses cannot all slip past the check.
        let racing = LoginThrottle()
        let passed = (0..<20).filter { _ in (try? racing.begin(user: "victim", address: nil, now: now)) != nil }.count
        #expect(passed == 5)
    }

    @Test func tokensAreStoredHashedAndRevokedAtOnce() async throws {
        let (token, secret) = try access.createToken(name: "bed-12", roles: ["camera"], patients: ["P7"], actor: Self.actor)
        #expect(secret.hasPrefix("loupe_") && secret.count == 49)
        #expect(token.secretHash == Secret.hash(secret) && !token.secretHash.contains(secret))
        let identity = try await access.authenticate(.bearer(secret), address: nil)
        #expect(identity.name == "bed-12" && identity.kind == .token && identity.patients == ["P7"])
        #expect(identity.may(.photos) && !identity.may(.read))
        #expect(identity.mayAccess(patient: "P7") && !identity.mayAccess(patient: "P8") && !identity.mayAccess(patient: nil))

        try access.revokeToken(name: "bed-12", actor: Self.actor)
        await #expect(throws: AccessError.unauthenticated("API token bed-12 was revoked")) {
            try await access.authenticate(.bearer(secret), address: nil)
        }
        await #expect(throws: AccessError.unauthenticated("unknown API token")) {
            try await access.authenticate(.bearer("loupe_" + Secret.generate()), address: nil)
        }
    }

    @Test func expiredTokensAreRefused() async throws {
        let (_, secret) = try access.createToken(name: "short", roles: ["researcher"], expires: Date(timeIntervalSinceNow: 60), actor: Self.actor)
        _ = try await access.authenticate(.bearer(secret), address: nil)
        await #expect(throws: AccessError.unauthenticated("API token short expired")) {
            try await access.authenticate(.bearer(secret), address: nil, now: Date(timeIntervalSinceNow: 61))
        }
    }

    @Test func sessionsExpireWhenIdleAndAfterTheirLifetime() async throws {
        try access.addUser(name: "clin", password: "clinician-pw", roles: ["clinician"], actor: Self.actor)
        let start = Date()
        let (secret, identity) = try await access.login(user: "clin", password: "clinician-pw", address: "10.1.1.1", now: start)
        #expect(identity.kind == .session && identity.csrfToken != nil)
        let again = try await access.authenticate(.session(secret), address: "10.1.1.1", now: start.addingTimeInterval(60))
        #expect(again.name == "clin" && again.csrfToken == identity.csrfToken)
        // 29 minutes after the last use: still on; 31 minutes after: gone.
        _ = try await access.authenticate(.session(secret), address: nil, now: start.addingTimeInterval(60 + 29 * 60))
        await #expect(throws: AccessError.unauthenticated("session expired; log in again")) {
            try await access.authenticate(.session(secret), address: nil, now: start.addingTimeInterval(60 + 29 * 60 + 31 * 60 + 60))
        }
        await #expect(throws: AccessError.self) { try await access.authenticate(.session(secret), address: nil) }

        // Used every 20 minutes, a session still ends 12 hours after login.
        let (long, _) = try await access.login(user: "clin", password: "clinician-pw", address: nil, now: start)
        // Up to 11 h 40 min (computed from the start each time: sums of 20 minutes drift past 12 h).
        for use in 1...35 {
            _ = try await access.authenticate(.session(long), address: nil, now: start.addingTimeInterval(Double(use) * 20 * 60))
        }
        await #expect(throws: AccessError.unauthenticated("session expired; log in again")) {
            try await access.authenticate(.session(long), address: nil, now: start.addingTimeInterval(12 * 3600 + 1))
        }
    }

    @Test func logoutAndANewPasswordEndSessions() async throws {
        try access.addUser(name: "n", password: "first-password", roles: ["nurse"], actor: Self.actor)
        let (a, identity) = try await access.login(user: "n", password: "first-password", address: nil)
        let (b, _) = try await access.login(user: "n", password: "first-password", address: nil)
        try await access.logout(secret: a, identity: identity)
        await #expect(throws: AccessError.self) { try await access.authenticate(.session(a), address: nil) }
        _ = try await access.authenticate(.session(b), address: nil)
        try access.setPassword(name: "n", password: "second-password", actor: Self.actor)
        await #expect(throws: AccessError.self) { try await access.authenticate(.session(b), address: nil) }
        await #expect(throws: AccessError.self) { try await access.authenticate(.basic(user: "n", password: "first-password"), address: nil) }
        _ = try await access.authenticate(.basic(user: "n", password: "second-password"), address: nil)
    }

    @Test func theFirstStartCreatesOneAdmin() async throws {
        let password = try #require(try access.createInitialAdmin(actor: Self.actor))
        #expect(password.count == 24)
        #expect(try access.createInitialAdmin(actor: Self.actor) == nil)
        let admin = try await access.authenticate(.basic(user: "admin", password: password), address: nil)
        #expect(admin.may(.admin) && admin.may(.events("flush")) && admin.may(.events("anything")))
    }

    @Test func changesAndLoginsAreAuditedInAnAppendOnlyTrail() async throws {
        try access.addUser(name: "r", password: "research-pw", roles: ["researcher"], actor: Self.actor)
        _ = try access.createToken(name: "nb", roles: ["researcher"], actor: Self.actor)
        _ = try await access.login(user: "r", password: "research-pw", address: "10.2.2.2")
        _ = try? await access.login(user: "r", password: "not-it!!", address: "10.2.2.3")
        access.auditLog.flush()
        let trail = try store.archive.audit(AuditFilter())
        #expect(trail.map(\.action) == [.userChanged, .tokenChanged, .login, .login])
        #expect(trail.map(\.outcome) == [.success, .success, .success, .failure])
        #expect(trail[0].actor == "cli:test" && trail[0].detail?.contains("user r added") == true)
        #expect(trail[2].actor == "r" && trail[2].address == "10.2.2.2" && trail[3].address == "10.2.2.3")
        #expect(try store.archive.audit(AuditFilter(action: .login)).count == 2)
        #expect(try store.archive.audit(AuditFilter(actor: "r")).count == 2)
        // Nothing in the trail can be changed or removed.
        let index = try DatabaseQueue(path: store.directory.appendingPathComponent("index.sqlite").path)
        #expect(throws: (any Error).self) { try index.write { try $0.execute(sql: "UPDATE audit SET actor = 'x'") } }
        #expect(throws: (any Error).self) { try index.write { try $0.execute(sql: "DELETE FROM audit") } }
        #expect(try store.archive.audit(AuditFilter()).count == 4)
    }

    @Test func rolesCanBeRedefinedAndAdded() throws {
        let catalog = try RoleCatalog(definitions: ["nurse": ["photos"], "triage": ["read", "events:anomaly"]])
        #expect(try catalog.permissions(of: ["nurse"]) == PermissionSet(["photos"]))
        let triage = try catalog.permissions(of: ["triage", "camera"])
        #expect(triage.contains(.read) && triage.contains(.events("anomaly")) && triage.contains(.photos) && !triage.contains(.events("flush")))
        #expect(throws: AccessError.self) { try RoleCatalog(definitions: ["bad": ["read", "fly"]]) }
        #expect(throws: AccessError.self) { try catalog.permissions(of: ["nobody"]) }
        #expect(PermissionSet(["events:*"]).contains(.events("flush")) && !PermissionSet(["events:*"]).contains(.read))
    }
}

@Suite struct ChangeCounterTests {
    @Test func everyCommitChangesTheCounter() throws {
        let store = try TemporaryArchive()
        let access = AccessControl(archive: store.archive, configuration: AccessConfiguration(roles: try RoleCatalog()))
        let before = try store.archive.changeCounter()
        #expect(try store.archive.changeCounter() == before)
        _ = try access.createToken(name: "t1", roles: ["camera"], actor: AccessControlTests.actor)
        let after = try store.archive.changeCounter()
        #expect(after != before)
        try store.archive.markTokenUsed(id: 1, at: Date())
        #expect(try store.archive.changeCounter() != after)
    }
}
