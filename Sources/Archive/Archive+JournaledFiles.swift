import Foundation
import GRDB
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Journaled files: a small instance's bytes are committed with its index row, so the WAL's one
/// flush makes the instance durable and it is acknowledged without waiting for flushes of its file
/// and directory. Those come after, for many files at once (`FileFlusher`), and then the bytes
/// leave the index. Opening the archive writes out the files of rows still carrying bytes: after
/// a power cut those files may be missing or incomplete.
extension Archive {
    /// Whether an instance's file goes through the journal: Part-10 files up to the configured size.
    func journals(size: Int, isPart10: Bool) -> Bool {
        isPart10 && size <= configuration.journaledFileLimit
    }

    /// Writes out (durably) every journaled file whose own flush was not recorded, then lets the
    /// bytes go. Returns how many there were.
    @discardableResult
    func restoreJournaledFiles() throws -> Int {
        let pending = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT instance_pk, path FROM journaled_file").map { (pk: $0["instance_pk"] as Int64, path: $0["path"] as String) }
        }
        for (pk, path) in pending {
            guard let bytes = try database.read({ db in
                try Data.fetchOne(db, sql: "SELECT bytes FROM journaled_file WHERE instance_pk = ?", arguments: [pk])
            }) else { continue }
            try blobs.restore(bytes, at: path)
            try database.write { db in try db.execute(sql: "DELETE FROM journaled_file WHERE instance_pk = ?", arguments: [pk]) }
        }
        return pending.count
    }

    /// Removes what a crash left in the staging directory. A staged file with a second name was
    /// placed in the archive before the crash; that copy goes too unless an index row names it.
    /// Returns (staged files, placed files without a row).
    @discardableResult
    func reclaimUnindexedFiles() throws -> (staged: Int, unindexed: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs.staging.path)) ?? []
        var unindexed = 0
        for name in names {
            let staged = blobs.staging.appendingPathComponent(name)
            defer { unlink(staged.path) }
            var info = stat()
            guard stat(staged.path, &info) == 0, info.st_nlink > 1, (info.st_mode & S_IFMT) == S_IFREG,
                  let placed = try? placedCopy(of: staged, inode: info.st_ino) else { continue }
            let indexed = try database.read { db in
                try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM instance WHERE file_path = ?)", arguments: [placed]) ?? false
            }
            if !indexed {
                blobs.remove(relativePath: placed)
                unindexed += 1
            }
        }
        return (names.count, unindexed)
    }

    /// The relative path of the archive's name for a staged file (same inode), looked for where
    /// its UIDs place it.
    private func placedCopy(of staged: URL, inode: ino_t) throws -> String? {
        let header = try StagedFile(staged).file
        guard let study = header.dataSet.string(.studyInstanceUID), let sop = header.dataSet.string(.sopInstanceUID) else { return nil }
        let directory = blobs.relativePath(studyInstanceUID: study, sopInstanceUID: sop)
        let folder = (directory as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs.url(forRelativePath: folder).path)) ?? []
        for name in names where name.hasPrefix(sop + ".") {
            var info = stat()
            let relative = folder + "/" + name
            if stat(blobs.url(forRelativePath: relative).path, &info) == 0, info.st_ino == inode { return relative }
        }
        return nil
    }
}

/// Flushes journaled files after their acknowledgement, many at a time: one `syncfs` writes out
/// every file and directory entry queued in the last `gathering` interval, then one commit (not waiting for its own WAL
/// flush: a lost deletion only means writing the file again at the next open) drops their bytes
/// from the index.
final class FileFlusher: Sendable {
    private let queue = DispatchQueue(label: "loupe.file-flusher", qos: .utility)
    static let gathering: DispatchTimeInterval = .milliseconds(100)
    private let waiting = Mutex<[String]>([])
    private let filesDirectory: String
    private let release: @Sendable ([String]) throws -> Void
    private let logger: Logger

    /// `release`: drops the journaled bytes of these files (relative paths; durable now).
    init(filesDirectory: URL, logger: Logger, release: @escaping @Sendable ([String]) throws -> Void) {
        self.filesDirectory = filesDirectory.path
        self.release = release
        self.logger = logger
    }

    /// Queues a journaled file (relative path) that is placed and committed.
    func enqueue(_ path: String) {
        let first = waiting.withLock { waiting in
            waiting.append(path)
            return waiting.count == 1
        }
        // A moment's wait gathers the files of many acknowledgements into one flush: they are
        // durable in the index meanwhile.
        if first { queue.asyncAfter(deadline: .now() + Self.gathering) { self.flushWaiting() } }
    }

    /// Flushes everything queued, including what arrives meanwhile; returns when done.
    func drain() {
        queue.sync { flushWaiting() }
    }

    private func flushWaiting() {
        while true {
            // Taken after the flush starts would be wrong: a file queued during syncfs may have
            // been written after it looked. So take first, then flush.
            let batch = waiting.withLock { waiting in
                defer { waiting.removeAll() }
                return waiting
            }
            guard !batch.isEmpty else { return }
            do {
                try flushFileSystem()
                try release(batch)
            } catch {
                // The bytes stay in the index; the next open writes these files out again.
                logger.error("could not flush journaled files; they are written out again at the next start",
                             metadata: ["count": "\(batch.count)", "error": "\(error)"])
            }
        }
    }

    private func flushFileSystem() throws(IngestError) {
        let fd = open(filesDirectory, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw IngestError(.storage, "cannot open \(filesDirectory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard syncfs(fd) == 0 else { throw IngestError(.storage, "syncfs failed: \(String(cString: strerror(errno)))") }
    }
}

/// Linux's syncfs(2), which Glibc's module map leaves out (it is declared only under _GNU_SOURCE).
@_silgen_name("syncfs")
private func syncfs(_ fd: Int32) -> Int32
