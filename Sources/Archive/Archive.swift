import DICOM
import Foundation
import GRDB
import Logging

/// Another process has the archive open (`Archive(configuration:alone:)`).
public struct ArchiveInUse: Error, CustomStringConvertible {
    public var description: String { "another process (a running node?) has the archive open" }
}

/// The archive: a SQLite index (GRDB, WAL) over files kept as received.
///
/// Thread-safe; its methods block, so callers on DCMTK threads use them directly and async
/// callers should hop off the cooperative pool first.
public final class Archive: Sendable {
    public let configuration: ArchiveConfiguration
    let database: DatabasePool
    /// The SQL the index speaks (PostgreSQL's is rendered, not yet run: docs/design/postgres-index.md).
    let dialect = SQLDialect.sqlite
    let indexWrites: GroupCommit
    let blobs: BlobStore
    let logger: Logger
    let lock: ArchiveLock
    /// Opened with `alone`: no other process can have the archive open while this one does.
    let heldAlone: Bool
    /// A connection of its own, only for `changeCounter()`: SQLite's data_version counts the commits
    /// of connections other than the one asking.
    let changeWatch: DatabaseQueue
    /// Wakes derivation workers when ingest or requeue adds jobs.
    public let derivationSignal = DerivationSignal()

    /// Opens (creating if needed) the archive under `configuration.dataDirectory` and migrates the
    /// index to the current schema. When no other process has it open, it also removes staged
    /// files left by a crash and makes derivations that were running due again. `alone`: keep the
    /// archive to this process (`loupe check --repair`): throws `ArchiveInUse` when another has it
    /// open, and one that opens it meanwhile waits until this process ends.
    public init(configuration: ArchiveConfiguration, logger: Logger = Logger(label: "loupe.archive"), alone: Bool = false) throws {
        self.configuration = configuration
        self.logger = logger
        try FileManager.default.createDirectory(at: configuration.dataDirectory, withIntermediateDirectories: true)
        lock = try ArchiveLock(url: configuration.lockPath)
        if alone && !lock.isExclusive { throw ArchiveInUse() }
        heldAlone = alone
        blobs = try BlobStore(root: configuration.filesDirectory, staging: configuration.stagingDirectory,
                              placementLog: configuration.placementLogPath)

        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // Statement journals (each group-commit write runs in a savepoint) and sorts in memory:
            // as files, every commit created and deleted one in /var/tmp (an inode each).
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        config.busyMode = .timeout(30)
        database = try DatabasePool(path: configuration.indexPath.path, configuration: config)
        // FULL: a committed (acknowledged) instance survives power loss, not only a crash. Set on
        // the writer after GRDB's WAL setup, which chooses NORMAL.
        try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try Schema.migrator.migrate(database)
        var watchConfiguration = Configuration()
        watchConfiguration.readonly = true
        changeWatch = try DatabaseQueue(path: configuration.indexPath.path, configuration: watchConfiguration)
        indexWrites = GroupCommit(database: database)
        try registerProcessors()
        if lock.isExclusive {
            try recoverFiles()
            try resumeInterruptedDerivations()
        } else {
            // Left to the process that has them; if it died while this one was open beside it, its
            // jobs are claimed again once abandoned (DerivationPolicy.abandonedAfter) and its staged
            // files go at the next open of the archive alone.
            let running = try database.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM derivation_job WHERE state = 'running'") ?? 0
            }
            logger.log(level: running > 0 ? .notice : .debug,
                       "another process has the archive open: its staged files and running jobs are left to it",
                       metadata: ["running_jobs": "\(running)"])
        }
        if !alone { try lock.share() }
    }

    /// Ends this process's use of the archive, once its ingests are over. Alone on it, the process
    /// empties the placement log (each of its placements was committed or removed), so the next open
    /// has no directories to look into: a node that ran for months starts as fast as a new one.
    public func close() {
        guard lock.takeIfAlone() else { return }
        if blobs.placements.holdsOnlyOwnLines {
            try? blobs.placements.empty()
        } else {
            // Lines of a process that ended without closing (killed beside this one): what the next
            // open would do, now.
            _ = try? reclaimUnindexedFiles()
        }
    }

    /// The data directory's file system: bytes left to unprivileged writers, and its size.
    public func diskSpace() -> (free: Int64, size: Int64)? {
        var info = statvfs()
        guard statvfs(configuration.dataDirectory.path, &info) == 0 else { return nil }
        return (Int64(info.f_bavail) * Int64(info.f_frsize), Int64(info.f_blocks) * Int64(info.f_frsize))
    }

    /// After a crash: staged files removed, and with them any file placed in the archive whose
    /// row was never committed, and files a committed replacement left.
    private func recoverFiles() throws {
        let (staged, unindexed) = try reclaimUnindexedFiles()
        let obsolete = try removeObsoleteFiles()
        if staged + obsolete > 0 {
            logger.warning("removed the files of an interrupted run", metadata: [
                "staged_files_removed": "\(staged)", "unindexed_files_removed": "\(unindexed)", "obsolete_files_removed": "\(obsolete)"])
        }
    }

    /// The directory where writers stage incoming files before `ingest(staged:...)`.
    public var stagingDirectory: URL { configuration.stagingDirectory }

    /// A fresh path in the staging directory.
    public func stagingURL(prefix: String) -> URL { blobs.stagingURL(prefix: prefix) }

    /// Absolute location of an indexed file.
    public func fileURL(relativePath: String) -> URL { blobs.url(forRelativePath: relativePath) }

    /// The schema migrations applied so far, oldest first.
    public func appliedMigrations() throws -> [String] {
        try database.read { db in try Schema.migrator.appliedMigrations(db) }
    }
}
