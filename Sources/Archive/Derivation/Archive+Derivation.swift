import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// A claimed set of due jobs: one instance, the processors to run on it (in policy order).
public struct DerivationClaim: Sendable {
    public let input: DerivationInput
    public let processors: [String]
    /// Attempts so far per processor, this one included.
    public let attempts: [String: Int]
    let instancePK: Int64
    /// Identifies this claim: instance row ids can be reused after a replacement, tokens are not.
    let token: Int64
}

/// Which jobs `requeueDerivations` puts back in the queue.
public enum DerivationScope: Sendable, Equatable {
    case all
    case instance(sopInstanceUID: String)
    case failed
}

/// A job's state as `/api/instances/{uid}/analysis` shows it.
public struct DerivationStatus: Sendable, Equatable, Codable {
    public let processor: String
    public let state: String
    public let attempts: Int
    public let lastError: String?
    public let updatedAt: String
}

/// A job that failed for good (its attempts used up), with its instance; keys are DICOM keywords
/// where there is one.
public struct FailedDerivation: Sendable, Equatable, Codable {
    public let SOPInstanceUID: String
    public let SeriesInstanceUID: String
    public let StudyInstanceUID: String
    public let PatientID: String
    public let processor: String
    public let attempts: Int
    public let lastError: String?
    public let updatedAt: String
}

/// A derived file's index row, with the instance it belongs to.
public struct DerivedFileRecord: Sendable, Equatable {
    public let kind: String
    public let name: String
    public let fileURL: URL
    /// The JSON object the processor recorded.
    public let parameters: String
    public let createdAt: String
    public let patientID: String
    public let studyInstanceUID: String
    public let studyDescription: String?
    public let seriesInstanceUID: String
    public let seriesDescription: String?
    public let sopInstanceUID: String
    public let instanceNumber: Int?
}

/// Why a derivation-queue call failed.
public struct DerivationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Archive {
    /// The instances with a job due at the time bound next, through the partial index of pending jobs:
    /// SQLite otherwise took the index on `state` and sorted every pending job for each claim (0.19 s
    /// with 376,000 pending, so derivation crawled at 3.5 instances a second behind a large ingest).
    var dueJobs: String {
        "SELECT instance_pk FROM \(dialect.table("derivation_job", indexedBy: "derivation_job_due")) WHERE state = 'pending' AND not_before <= ?"
    }

    /// Claims the due jobs of the instance that has waited longest (jobs enqueued at ingest before
    /// requeued and retried ones), marking them running; else abandoned ones (see
    /// `DerivationPolicy.abandonedAfter`). Nil when nothing is due.
    public func claimDerivations(now: Date = Date()) throws(DerivationError) -> DerivationClaim? {
        let clock = now.timeIntervalSince1970
        let order = configuration.derivation.processors
        let abandoned = clock - configuration.derivation.abandonedAfter
        let pending = dueJobs
        let stuck = "SELECT instance_pk FROM derivation_job WHERE state = 'running' AND updated_at < \(self.dialect.timestamp)"
        // Idle workers woken by ingest look on a reader first: no write lock taken for nothing.
        let due = try derivationRead { db in
            try Int64.fetchOne(db.cachedStatement(sql: pending + " LIMIT 1"), arguments: [clock])
                ?? Int64.fetchOne(db.cachedStatement(sql: stuck + " LIMIT 1"), arguments: [abandoned])
        }
        guard due != nil else { return nil }
        let token = Int64.random(in: 1...Int64.max)
        // The claim and the instance it is for, in one transaction.
        let claimed: (Int64, [String: Int], Row?)? = try derivationWrite { db in
            guard let pk = try Int64.fetchOne(db.cachedStatement(sql: pending + " ORDER BY not_before, instance_pk LIMIT 1"),
                                              arguments: [clock])
                ?? Int64.fetchOne(db.cachedStatement(sql: stuck + " LIMIT 1"), arguments: [abandoned]) else { return nil }
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                UPDATE derivation_job SET state = 'running', attempts = attempts + 1, claim_token = ?, updated_at = \(self.dialect.now)
                WHERE instance_pk = ? AND ((state = 'pending' AND not_before <= ?) OR (state = 'running' AND updated_at < \(self.dialect.timestamp)))
                RETURNING processor, attempts
                """), arguments: [token, pk, clock, abandoned])
            let instance = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT i.SOPInstanceUID, i.SOPClassUID, st.StudyInstanceUID, se.SeriesInstanceUID, i.file_path,
                       i.Rows, i.Columns, i.NumberOfFrames
                FROM instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk
                WHERE i.id = ?
                """), arguments: [pk])
            return (pk, Dictionary(uniqueKeysWithValues: rows.map { ($0[0] as String, $0[1] as Int) }), instance)
        }
        guard let (pk, attempts, found) = claimed else { return nil }
        guard let row = found else { return try claimDerivations(now: now) }  // (jobs go with their instance: not expected)
        let input = DerivationInput(sopInstanceUID: row[0], sopClassUID: row[1], studyInstanceUID: row[2],
                                    seriesInstanceUID: row[3], fileURL: fileURL(relativePath: row[4]),
                                    rows: row[5], columns: row[6], numberOfFrames: row[7])
        let processors = attempts.keys.sorted { (order.firstIndex(of: $0) ?? .max, $0) < (order.firstIndex(of: $1) ?? .max, $1) }
        return DerivationClaim(input: input, processors: processors, attempts: attempts, instancePK: pk, token: token)
    }

    /// Records what a processor made of a claimed job: derived files are written (atomically,
    /// replacing earlier ones of their kind) and indexed with the job marked done; an embedding
    /// replaces the instance's earlier one; a skip is recorded with its reason; a failure is
    /// retried after back-off or, out of attempts or permanent, recorded as failed.
    public func completeDerivation(_ claim: DerivationClaim, processor: String,
                                   _ result: Result<DerivationOutcome, DerivationFailure>, now: Date = Date()) throws(DerivationError) {
        switch result {
        case .success(.derived(let files)):
            var written: [(DerivedFile, String)] = []
            for file in files {
                written.append((file, try writeDerived(file, claim: claim)))
            }
            let replacedPaths = try derivationWrite { db -> [String]? in
                guard try self.markDone(claim, processor, db: db) else { return nil }
                var replaced: [String] = []
                for (file, path) in written {
                    replaced += try String.fetchAll(db.cachedStatement(sql: """
                        SELECT path FROM derived_file WHERE instance_pk = ? AND kind = ? AND path <> ?
                        """), arguments: [claim.instancePK, file.kind, path])
                    try db.cachedStatement(sql: """
                        INSERT INTO derived_file (instance_pk, kind, name, path, parameters) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (instance_pk, kind) DO UPDATE SET name = excluded.name, path = excluded.path,
                            parameters = excluded.parameters, created_at = \(self.dialect.now)
                        """).execute(arguments: [claim.instancePK, file.kind, file.name(sopInstanceUID: claim.input.sopInstanceUID),
                                                 path, file.parameters])
                }
                return replaced
            }
            // Files of earlier derivations go; so do this one's when the claim went stale (the
            // instance was removed or replaced while its job ran).
            let obsolete = replacedPaths ?? written.map(\.1)
            for path in obsolete { unlink(derivedURL(relativePath: path).path) }
        case .success(.embedded(let embedding)):
            try derivationWrite { db in
                guard try self.markDone(claim, processor, db: db) else { return }
                // A new row, not an update: the new embedding gets a new `seq`, so similarity indexes that follow
                // the sequence pick it up.
                try db.cachedStatement(sql: "DELETE FROM embedding WHERE instance_pk = ?").execute(arguments: [claim.instancePK])
                try db.cachedStatement(sql: "INSERT INTO embedding (instance_pk, model, vector) VALUES (?, ?, ?)")
                    .execute(arguments: [claim.instancePK, embedding.model, EmbeddingCoding.encode(embedding.vector)])
            }
        case .success(.found(let finding)):
            try derivationWrite(durable: finding.topic != nil) { db in
                guard try self.markDone(claim, processor, db: db) else { return }
                try db.cachedStatement(sql: """
                    INSERT INTO finding (instance_pk, kind, label, probability, reason, model, details)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (instance_pk, kind) DO UPDATE SET label = excluded.label, probability = excluded.probability,
                        reason = excluded.reason, model = excluded.model, details = excluded.details, created_at = excluded.created_at
                    """).execute(arguments: [claim.instancePK, finding.kind, finding.label, finding.probability, finding.reason,
                                             finding.model, finding.details])
                if let topic = finding.topic { try Self.publish(topic, finding, claim: claim, db: db) }
            }
        case .success(.skipped(let reason)):
            try setJob(claim, processor, state: "skipped", error: reason, notBefore: 0)
        case .failure(let failure):
            let attempts = claim.attempts[processor] ?? 1
            let policy = configuration.derivation
            if failure.permanent || attempts >= policy.maxAttempts {
                try setJob(claim, processor, state: "failed", error: failure.message, notBefore: 0)
                logger.warning("derivation failed", metadata: [
                    "processor": "\(processor)", "sop_instance_uid": "\(claim.input.sopInstanceUID)",
                    "attempts": "\(attempts)", "error": "\(failure.message)"])
            } else {
                let due = now.timeIntervalSince1970 + policy.retryDelay(afterAttempt: attempts)
                try setJob(claim, processor, state: "pending", error: failure.message, notBefore: due)
            }
        }
    }

    /// Puts jobs back in the queue (e.g. after a model update) and creates missing ones for the
    /// registered processors; running jobs are left alone. `processors` limits it to some.
    /// Returns how many jobs are now pending because of this call.
    @discardableResult
    public func requeueDerivations(_ scope: DerivationScope, processors: [String]? = nil, now: Date = Date()) throws(DerivationError) -> Int {
        let names = processors ?? configuration.derivation.processors
        let unknown = names.filter { !configuration.derivation.processors.contains($0) }
        guard unknown.isEmpty else {
            throw DerivationError("unknown processor \(unknown.joined(separator: ", ")); registered: \(configuration.derivation.processors.joined(separator: ", "))")
        }
        guard !names.isEmpty else { return 0 }
        let count = try derivationWrite { db -> Int in
            var instanceFilter = ""
            var arguments: StatementArguments = [now.timeIntervalSince1970]
            if case .instance(let uid) = scope {
                guard let pk = try Int64.fetchOne(db, sql: "SELECT id FROM instance WHERE SOPInstanceUID = ?", arguments: [uid]) else {
                    throw DerivationError("no instance with SOP Instance UID \(uid)")
                }
                instanceFilter = " AND instance_pk = \(pk)"
                try Self.enqueueMissing(names, db: db, instancePK: pk)
            } else if scope == .all {
                try Self.enqueueMissing(names, db: db)
            }
            let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
            let states = scope == .failed ? "state = 'failed'" : "state <> 'running'"
            arguments += StatementArguments(names)
            try db.execute(sql: """
                UPDATE derivation_job SET state = 'pending', attempts = 0, not_before = ?, last_error = NULL,
                    updated_at = \(self.dialect.now)
                WHERE \(states) AND processor IN (\(placeholders))\(instanceFilter)
                """, arguments: arguments)
            return db.changesCount
        }
        derivationSignal.signal()
        return count
    }

    /// Jobs per state (`pending`, `running`, `done`, `failed`, `skipped`), every state present.
    public func derivationCounts() throws(DerivationError) -> [String: Int] {
        try derivationRead(Self.derivationCounts)
    }

    static func derivationCounts(_ db: Database) throws -> [String: Int] {
        var counts = ["pending": 0, "running": 0, "done": 0, "failed": 0, "skipped": 0]
        for row in try Row.fetchAll(db, sql: "SELECT state, count(*) FROM derivation_job GROUP BY state") {
            counts[row[0]] = row[1]
        }
        return counts
    }

    /// The failed jobs, most recent first, at most `limit`.
    public func failedDerivations(limit: Int = 100) throws(DerivationError) -> [FailedDerivation] {
        try derivationRead { db in
            try Row.fetchAll(db, sql: """
                SELECT i.SOPInstanceUID, se.SeriesInstanceUID, st.StudyInstanceUID, p.PatientID, j.processor, j.attempts, j.last_error, j.updated_at
                FROM derivation_job j JOIN instance i ON i.id = j.instance_pk JOIN series se ON se.id = i.series_pk
                JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk
                WHERE j.state = 'failed' ORDER BY j.updated_at DESC LIMIT ?
                """, arguments: [limit]).map { row in
                FailedDerivation(SOPInstanceUID: row[0], SeriesInstanceUID: row[1], StudyInstanceUID: row[2], PatientID: row[3],
                                 processor: row[4], attempts: row[5], lastError: row[6], updatedAt: row[7])
            }
        }
    }

    /// When the earliest pending job becomes due (now or in the past if one is due); nil if none is pending.
    public func nextDerivationDue() throws(DerivationError) -> Date? {
        let next = try derivationRead { db in
            try Double.fetchOne(db, sql: """
                SELECT min(not_before) FROM \(self.dialect.table("derivation_job", indexedBy: "derivation_job_due")) WHERE state = 'pending'
                """)
        }
        return next.map(Date.init(timeIntervalSince1970:))
    }

    /// The jobs and derived files of one instance; nil when the archive does not hold it.
    public func derivations(sopInstanceUID: String) throws(DerivationError)
        -> (jobs: [DerivationStatus], files: [DerivedFileRecord], findings: [StoredFinding])? {
        try derivationRead { db in
            guard let pk = try Int64.fetchOne(db, sql: "SELECT id FROM instance WHERE SOPInstanceUID = ?", arguments: [sopInstanceUID]) else {
                return nil
            }
            let jobs = try Row.fetchAll(db, sql: """
                SELECT processor, state, attempts, last_error, updated_at FROM derivation_job WHERE instance_pk = ? ORDER BY processor
                """, arguments: [pk]).map { row in
                DerivationStatus(processor: row[0], state: row[1], attempts: row[2], lastError: row[3], updatedAt: row[4])
            }
            let files = try Row.fetchAll(db, sql: Self.derivedFileQuery + " WHERE d.instance_pk = ? ORDER BY d.kind",
                                         arguments: [pk]).map(derivedFileRecord)
            let findings = try Row.fetchAll(db, sql: """
                SELECT kind, label, probability, reason, model, details, created_at FROM finding WHERE instance_pk = ? ORDER BY kind
                """, arguments: [pk]).map { row in
                StoredFinding(finding: Finding(kind: row[0], label: row[1], probability: row[2], reason: row[3], model: row[4], json: row[5]),
                              createdAt: row[6])
            }
            return (jobs, files, findings)
        }
    }

    /// A derived file by its name (`<SOPInstanceUID>.png`).
    public func derivedFile(name: String) throws(DerivationError) -> DerivedFileRecord? {
        try derivationRead { db in
            try Row.fetchOne(db, sql: Self.derivedFileQuery + " WHERE d.name = ?", arguments: [name]).map(derivedFileRecord)
        }
    }

    // MARK: - Internals

    /// Where derived files live: `derived/<kind>/xx/<SOPInstanceUID>.<claim token>.<ext>`.
    var derivedDirectory: URL { configuration.dataDirectory.appendingPathComponent("derived", isDirectory: true) }

    func derivedURL(relativePath: String) -> URL { derivedDirectory.appendingPathComponent(relativePath) }

    private static let derivedFileQuery = """
        SELECT d.kind, d.name, d.path, d.parameters, d.created_at, p.PatientID, st.StudyInstanceUID, st.StudyDescription,
               se.SeriesInstanceUID, se.SeriesDescription, i.SOPInstanceUID, i.InstanceNumber
        FROM derived_file d JOIN instance i ON i.id = d.instance_pk JOIN series se ON se.id = i.series_pk
        JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk
        """

    private func derivedFileRecord(_ row: Row) -> DerivedFileRecord {
        DerivedFileRecord(kind: row[0], name: row[1], fileURL: derivedURL(relativePath: row[2]), parameters: row[3], createdAt: row[4],
                          patientID: row[5], studyInstanceUID: row[6], studyDescription: row[7], seriesInstanceUID: row[8],
                          seriesDescription: row[9], sopInstanceUID: row[10], instanceNumber: row[11])
    }

    /// Creates the jobs an instance (or every instance) lacks for `processors`: at ingest, when a
    /// processor is registered on an existing archive, and on requeue.
    static func enqueueMissing(_ processors: [String], db: Database, instancePK: Int64? = nil) throws {
        for processor in processors {
            if let instancePK {
                try db.cachedStatement(sql: "INSERT INTO derivation_job (instance_pk, processor) VALUES (?, ?) ON CONFLICT DO NOTHING")
                    .execute(arguments: [instancePK, processor])
            } else {
                try db.execute(sql: """
                    INSERT INTO derivation_job (instance_pk, processor) SELECT id, ? FROM instance WHERE TRUE
                    ON CONFLICT DO NOTHING
                    """, arguments: [processor])
            }
        }
    }

    /// At open: instances archived before a processor was registered get its jobs (ingest gives
    /// every instance the jobs of the processors registered then, so only newly registered
    /// processors need the scan).
    func registerProcessors() throws {
        let registered = configuration.derivation.processors
        try database.write { db in
            let known = Set(try String.fetchAll(db, sql: "SELECT name FROM derivation_processor"))
            let added = registered.filter { !known.contains($0) }
            try Self.enqueueMissing(added, db: db)
            for name in added {
                try db.execute(sql: "INSERT INTO derivation_processor (name) VALUES (?)", arguments: [name])
            }
            // A processor that is no longer registered misses the instances archived meanwhile.
            for name in known where !registered.contains(name) {
                try db.execute(sql: "DELETE FROM derivation_processor WHERE name = ?", arguments: [name])
            }
        }
    }

    /// At an open with no other process on the archive: jobs a previous run left running are due
    /// again.
    func resumeInterruptedDerivations() throws {
        let recovered = try database.write { db in
            try db.execute(sql: "UPDATE derivation_job SET state = 'pending' WHERE state = 'running'")
            return db.changesCount
        }
        if recovered > 0 {
            logger.info("resuming derivations interrupted by the last shutdown", metadata: ["jobs": "\(recovered)"])
        }
    }

    /// Marks a claimed job done; false when the claim went stale (the instance was removed or
    /// replaced while its job ran), and then nothing of it may be recorded.
    private func markDone(_ claim: DerivationClaim, _ processor: String, db: Database) throws -> Bool {
        try db.cachedStatement(sql: """
            UPDATE derivation_job SET state = 'done', last_error = NULL, updated_at = \(dialect.now)
            WHERE instance_pk = ? AND processor = ? AND claim_token = ?
            """).execute(arguments: [claim.instancePK, processor, claim.token])
        return db.changesCount > 0
    }

    private func setJob(_ claim: DerivationClaim, _ processor: String, state: String, error: String?, notBefore: Double) throws(DerivationError) {
        try derivationWrite { db in
            try db.cachedStatement(sql: """
                UPDATE derivation_job SET state = ?, last_error = ?, not_before = ?, updated_at = \(self.dialect.now)
                WHERE instance_pk = ? AND processor = ? AND claim_token = ?
                """).execute(arguments: [state, error, notBefore, claim.instancePK, processor, claim.token])
        }
    }

    /// Writes a derived file next to its final place and renames it there (atomic; the path
    /// carries the claim's token, so no two derivations share one). Returns the relative path.
    private func writeDerived(_ file: DerivedFile, claim: DerivationClaim) throws(DerivationError) -> String {
        let uid = claim.input.sopInstanceUID
        let token = String(UInt64(claim.token), radix: 16)
        let relative = "\(file.kind)/\(BlobStore.bucket(uid))/\(uid).\(token).\(file.fileExtension)"
        let target = derivedURL(relativePath: relative)
        let staged = stagingURL(prefix: "derived")
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(file.bytes).write(to: staged)
            let handle = try FileHandle(forWritingTo: staged)
            defer { try? handle.close() }
            try handle.synchronize()
            guard rename(staged.path, target.path) == 0 else {
                throw DerivationError("cannot move \(relative) into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: staged)
            throw error as? DerivationError ?? DerivationError("cannot write \(relative): \(error)")
        }
        return relative
    }

    /// Job bookkeeping commits without waiting for a WAL fsync (`synchronous=NORMAL`): losing the
    /// last few state changes to a power cut only means deriving again, and ingest commits (FULL)
    /// do not queue behind bookkeeping flushes. The next FULL commit makes these durable too.
    /// `durable`: commit with FULL, for what subscribers may already have seen (an event).
    func derivationWrite<T>(durable: Bool = false, _ work: @escaping (Database) throws -> T) throws(DerivationError) -> T {
        do {
            return try database.writeWithoutTransaction { db in
                if !durable { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                var value: T?
                let committed = Result {
                    try db.inTransaction {
                        value = try work(db)
                        return .commit
                    }
                }
                try db.execute(sql: "PRAGMA synchronous = FULL")  // before any ingest commit runs again
                try committed.get()
                return value!
            }
        } catch let error as DerivationError {
            throw error
        } catch {
            throw DerivationError("index update failed: \(error)")
        }
    }

    func derivationRead<T>(_ work: (Database) throws -> T) throws(DerivationError) -> T {
        do {
            return try database.read(work)
        } catch let error as DerivationError {
            throw error
        } catch {
            throw DerivationError("index query failed: \(error)")
        }
    }
}
