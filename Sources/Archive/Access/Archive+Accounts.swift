import Foundation
import GRDB

/// Local users, API tokens and browser sessions. Each change is written with its audit entry in
/// one transaction.
extension Archive {
    // MARK: users

    public func addAccount(name: String, passwordHash: String, roles: [String], patients: [String]?,
                           audit: AuditRecord) throws(AccessRecordError) {
        try accessWrite { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM account WHERE name = ?)", arguments: [name]) == true {
                throw AccessRecordError(.duplicate, "a user named \(name) exists already")
            }
            try db.execute(sql: "INSERT INTO account (name, password_hash, roles, patients) VALUES (?, ?, ?, ?)",
                           arguments: [name, passwordHash, Self.list(roles), Self.json(patients)])
            try self.insertAudit(audit, db: db)
        }
    }

    public func account(named name: String) throws(AccessRecordError) -> AccountRecord? {
        try accessRead { db in
            try Row.fetchOne(db.cachedStatement(sql: "\(Self.accountColumns) WHERE name = ?"), arguments: [name]).map(Self.account)
        }
    }

    public func accounts() throws(AccessRecordError) -> [AccountRecord] {
        try accessRead { db in try Row.fetchAll(db, sql: "\(Self.accountColumns) ORDER BY name").map(Self.account) }
    }

    public func accountCount() throws(AccessRecordError) -> Int {
        try accessRead { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM account") ?? 0 }
    }

    /// Changes a user's password and/or roles. A new password ends the user's sessions.
    public func updateAccount(name: String, passwordHash: String? = nil, roles: [String]? = nil,
                              audit: AuditRecord) throws(AccessRecordError) {
        try accessWrite { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM account WHERE name = ?", arguments: [name]) else {
                throw AccessRecordError(.notFound, "no user named \(name)")
            }
            if let passwordHash {
                try db.execute(sql: "UPDATE account SET password_hash = ? WHERE id = ?", arguments: [passwordHash, id])
                try db.execute(sql: "DELETE FROM login_session WHERE account_id = ?", arguments: [id])
            }
            if let roles { try db.execute(sql: "UPDATE account SET roles = ? WHERE id = ?", arguments: [Self.list(roles), id]) }
            try db.execute(sql: "UPDATE account SET updated_at = \(self.dialect.now) WHERE id = ?", arguments: [id])
            try self.insertAudit(audit, db: db)
        }
    }

    /// Removes a user and its sessions.
    public func removeAccount(name: String, audit: AuditRecord) throws(AccessRecordError) {
        try accessWrite { db in
            try db.execute(sql: "DELETE FROM account WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw AccessRecordError(.notFound, "no user named \(name)") }
            try self.insertAudit(audit, db: db)
        }
    }

    // MARK: tokens

    public func addToken(_ token: TokenRecord, audit: AuditRecord) throws(AccessRecordError) {
        try accessWrite { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM api_token WHERE name = ?)", arguments: [token.name]) == true {
                throw AccessRecordError(.duplicate, "a token named \(token.name) exists already")
            }
            try db.execute(sql: """
                INSERT INTO api_token (name, secret_hash, roles, patients, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [token.name, token.secretHash, Self.list(token.roles), Self.json(token.patients), token.createdBy,
                                 token.expiresAt?.timeIntervalSince1970])
            try self.insertAudit(audit, db: db)
        }
    }

    public func token(secretHash: String) throws(AccessRecordError) -> TokenRecord? {
        try accessRead { db in
            try Row.fetchOne(db.cachedStatement(sql: "\(Self.tokenColumns) WHERE secret_hash = ?"), arguments: [secretHash]).map(Self.token)
        }
    }

    public func tokens() throws(AccessRecordError) -> [TokenRecord] {
        try accessRead { db in try Row.fetchAll(db, sql: "\(Self.tokenColumns) ORDER BY name").map(Self.token) }
    }

    /// Revokes a token for good (it stays listed, marked revoked).
    public func revokeToken(name: String, audit: AuditRecord) throws(AccessRecordError) {
        try accessWrite { db in
            try db.execute(sql: """
                UPDATE api_token SET revoked_at = \(self.dialect.now) WHERE name = ? AND revoked_at IS NULL
                """, arguments: [name])
            guard db.changesCount == 1 else { throw AccessRecordError(.notFound, "no unrevoked token named \(name)") }
            try self.insertAudit(audit, db: db)
        }
    }

    /// Records that a token was used (callers throttle this: it is a write).
    public func markTokenUsed(id: Int64, at time: Date) throws(AccessRecordError) {
        try accessWrite { db in
            try db.execute(sql: "UPDATE api_token SET last_used_at = \(self.dialect.timestamp) WHERE id = ?",
                           arguments: [time.timeIntervalSince1970, id])
        }
    }

    // MARK: sessions

    /// Opens a session, recording the login in the same transaction.
    public func addSession(secretHash: String, accountID: Int64, csrfToken: String, address: String?, at time: Date,
                           audit: AuditRecord) throws(AccessRecordError) {
        try accessWrite { db in
            try db.execute(sql: """
                INSERT INTO login_session (secret_hash, account_id, csrf_token, address, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [secretHash, accountID, csrfToken, address, time.timeIntervalSince1970, time.timeIntervalSince1970])
            try self.insertAudit(audit, db: db)
        }
    }

    public func session(secretHash: String) throws(AccessRecordError) -> SessionRecord? {
        try accessRead { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT s.secret_hash, s.csrf_token, s.address, s.created_at, s.last_seen_at,
                       a.id, a.name, a.password_hash, a.roles, a.patients, a.created_at, a.updated_at
                FROM login_session s JOIN account a ON a.id = s.account_id WHERE s.secret_hash = ?
                """), arguments: [secretHash]).map { row in
                SessionRecord(secretHash: row[0], account: Self.account(row, from: 5), csrfToken: row[1], address: row[2],
                              createdAt: Date(timeIntervalSince1970: row[3]), lastSeenAt: Date(timeIntervalSince1970: row[4]))
            }
        }
    }

    public func touchSession(secretHash: String, at time: Date) throws(AccessRecordError) {
        try accessWrite { db in
            try db.execute(sql: "UPDATE login_session SET last_seen_at = ? WHERE secret_hash = ?",
                           arguments: [time.timeIntervalSince1970, secretHash])
        }
    }

    /// Ends a session (logout, expiry); `audit` records a logout in the same transaction.
    public func removeSession(secretHash: String, audit: AuditRecord?) throws(AccessRecordError) {
        try accessWrite { db in
            try db.execute(sql: "DELETE FROM login_session WHERE secret_hash = ?", arguments: [secretHash])
            if let audit, db.changesCount == 1 { try self.insertAudit(audit, db: db) }
        }
    }

    /// Removes sessions idle since before `idleBefore` or opened before `openedBefore`; returns how many.
    @discardableResult
    public func pruneSessions(idleBefore: Date, openedBefore: Date) throws(AccessRecordError) -> Int {
        try accessWrite { db in
            try db.execute(sql: "DELETE FROM login_session WHERE last_seen_at < ? OR created_at < ?",
                           arguments: [idleBefore.timeIntervalSince1970, openedBefore.timeIntervalSince1970])
            return db.changesCount
        }
    }

    // MARK: alerts

    /// Marks an alert (an event) as seen to. False when it was acknowledged before; throws when
    /// there is no such event.
    public func acknowledgeAlert(sequence: Int64, note: String?, audit: AuditRecord) throws(AccessRecordError) -> Bool {
        try accessWrite { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM event WHERE seq = ?)", arguments: [sequence]) == true else {
                throw AccessRecordError(.notFound, "no event \(sequence)")
            }
            try db.execute(sql: "INSERT INTO alert_acknowledgement (event_seq, actor, note) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           arguments: [sequence, audit.actor, note])
            let inserted = db.changesCount == 1
            if inserted { try self.insertAudit(audit, db: db) }
            return inserted
        }
    }

    // MARK: change detection

    /// A number that changes whenever anything commits to the index (this process's writes or
    /// another's): records read before it changed may be reused, without reading them again.
    public func changeCounter() throws(AccessRecordError) -> Int64 {
        do {
            return try changeWatch.inDatabase { db in try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0 }
        } catch {
            throw AccessRecordError(.index, "index query failed: \(error)")
        }
    }

    // MARK: rows

    private static let accountColumns = "SELECT id, name, password_hash, roles, patients, created_at, updated_at FROM account"
    private static let tokenColumns = """
        SELECT id, name, secret_hash, roles, patients, created_by, created_at, expires_at, revoked_at, last_used_at FROM api_token
        """

    private static func account(_ row: Row) -> AccountRecord { account(row, from: 0) }

    private static func account(_ row: Row, from i: Int) -> AccountRecord {
        AccountRecord(id: row[i], name: row[i + 1], passwordHash: row[i + 2], roles: list(row[i + 3]), patients: json(row[i + 4]),
                      createdAt: row[i + 5], updatedAt: row[i + 6])
    }

    private static func token(_ row: Row) -> TokenRecord {
        TokenRecord(id: row[0], name: row[1], secretHash: row[2], roles: list(row[3]), patients: json(row[4]), createdBy: row[5],
                    createdAt: row[6], expiresAt: (row[7] as Double?).map(Date.init(timeIntervalSince1970:)), revokedAt: row[8],
                    lastUsedAt: row[9])
    }

    private static func list(_ values: [String]) -> String { values.joined(separator: ",") }
    private static func list(_ text: String) -> [String] { text.split(separator: ",").map(String.init) }

    private static func json(_ values: [String]?) -> String? {
        values.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data("[]".utf8), as: UTF8.self) }
    }

    private static func json(_ text: String?) -> [String]? {
        text.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
    }
}
