import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The files of the archive: staged under `tmp/`, then linked into `files/xx/<StudyInstanceUID>/
/// <SOPInstanceUID>.dcm`. A link is atomic, so a file's name appears only once the file is whole.
struct BlobStore: Sendable {
    let root: URL
    let staging: URL
    /// Study directories whose names this process has flushed.
    private let durableDirectories = PathSet()

    init(root: URL, staging: URL) throws {
        self.root = root
        self.staging = staging
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
    }

    /// A fresh staging path for a writer (DIMSE receive, import, upload).
    func stagingURL(prefix: String) -> URL {
        staging.appendingPathComponent("\(prefix)-\(UUID().uuidString).part")
    }

    /// Relative path of an instance's file: `xx/<StudyInstanceUID>/<SOPInstanceUID>.dcm`, a study per
    /// directory (created once per study, read together on retrieve), studies spread over 256
    /// directories. `version` > 0 names a second copy (a replacement, or a concurrent arrival of
    /// the same instance) beside the first.
    func relativePath(studyInstanceUID: String, sopInstanceUID: String, version: Int = 0) -> String {
        let name = version == 0 ? "\(sopInstanceUID).dcm" : "\(sopInstanceUID).\(version).dcm"
        return "\(Self.bucket(studyInstanceUID))/\(studyInstanceUID)/\(name)"
    }

    /// One of 256 directory names (`00`…`ff`) for a UID: the top byte of its FNV-1a hash.
    static func bucket(_ uid: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in uid.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return String(format: "%02x", hash >> 24)
    }

    func url(forRelativePath path: String) -> URL { root.appendingPathComponent(path) }

    /// Links a staged file whose data is already flushed to a path of its own in the archive (never
    /// over an existing file), then flushes the directory entries: after return the file survives a
    /// power loss. Returns the relative path. The staged name stays until the caller removes it after
    /// committing the row: a crash in between leaves the two names of one file, by which the next
    /// open tells a placed file without a row (`reclaimUnindexedFiles`).
    func place(staged: URL, studyInstanceUID: String, sopInstanceUID: String) throws(IngestError) -> String {
        var version = 0
        while true {
            let relative = relativePath(studyInstanceUID: studyInstanceUID, sopInstanceUID: sopInstanceUID, version: version)
            let target = url(forRelativePath: relative)
            let directory = target.deletingLastPathComponent()
            // link() fails with EEXIST instead of replacing: two writers of one UID never clobber each other.
            if link(staged.path, target.path) == 0 {
                try fsyncDirectory(directory.path)
                try makeDurable(directory)
                return relative
            }
            switch errno {
            case EEXIST:
                version = version == 0 ? Int(Date().timeIntervalSince1970 * 1000) : version + 1
            case ENOENT:
                do {
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                } catch {
                    throw IngestError(.storage, "cannot create \(directory.path): \(error.localizedDescription)")
                }
            default:
                throw IngestError(.storage, "cannot move file into the archive: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Flushes the entries naming a study directory (in its bucket, and the bucket's in `files/`)
    /// the first time this process places a file in it: it may have just been created, here or by
    /// a concurrent writer that has not flushed them yet.
    private func makeDurable(_ studyDirectory: URL) throws(IngestError) {
        guard !durableDirectories.contains(studyDirectory.path) else { return }
        let bucket = studyDirectory.deletingLastPathComponent()
        try fsyncDirectory(bucket.path)
        try fsyncDirectory(root.path)
        durableDirectories.insert(studyDirectory.path)
    }

    func remove(relativePath: String) {
        try? FileManager.default.removeItem(at: url(forRelativePath: relativePath))
    }

    private func fsyncDirectory(_ path: String) throws(IngestError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw IngestError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw IngestError(.storage, "fsync failed for \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A set of paths shared by threads, forgetting them all when it reaches `limit` (a long-running
/// node writes into ever new study directories; forgetting costs a second flush, not safety).
final class PathSet: Sendable {
    private let paths = Mutex(Set<String>())
    private let limit: Int
    init(limit: Int = 100_000) { self.limit = limit }
    func contains(_ path: String) -> Bool { paths.withLock { $0.contains(path) } }
    func insert(_ path: String) {
        paths.withLock { paths in
            if paths.count >= limit { paths.removeAll() }
            paths.insert(path)
        }
    }
}
