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
    let placements: PlacementLog
    private let rootPath: String
    /// Study directories this process has recorded in the placement log and whose names it has flushed.
    private let durableDirectories = PathSet()

    init(root: URL, staging: URL, placementLog: URL) throws {
        self.root = root
        self.rootPath = root.path.hasSuffix("/") ? String(root.path.dropLast()) : root.path
        self.staging = staging
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        placements = try PlacementLog(url: placementLog)
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
        return "\(studyFolder(studyInstanceUID))/\(name)"
    }

    /// One of 256 directory names (`00`…`ff`) for a UID: the top byte of its FNV-1a hash.
    static func bucket(_ uid: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in uid.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let digits = Array("0123456789abcdef".utf8), top = Int(hash >> 24)
        return String(decoding: [digits[top >> 4], digits[top & 15]], as: UTF8.self)
    }

    func url(forRelativePath path: String) -> URL { root.appendingPathComponent(path) }

    /// Links a staged file whose data is already flushed to a path of its own in the archive (never
    /// over an existing file), then flushes the directory entries: after return the file survives a
    /// power loss. Returns the relative path. Until its row commits, such a file is one the next
    /// recovery removes: its directory is in the placement log before the file is placed there.
    func place(staged: URL, studyInstanceUID: String, sopInstanceUID: String) throws(IngestError) -> String {
        // Paths as strings: URL's path operations cost more than the rest of placing (ingest profile).
        let folder = studyFolder(studyInstanceUID)
        let studyDirectory = rootPath + "/" + folder
        // The first placement in a study directory by this process records it in the log and, once
        // placed, flushes the entries naming the directory (it may just have been created, here or by
        // a concurrent writer that has not flushed them yet).
        let first = !durableDirectories.contains(folder)
        if first { try placements.record(folder) }
        let stagedPath = staged.path
        var version = 0
        while true {
            let relative = relativePath(studyInstanceUID: studyInstanceUID, sopInstanceUID: sopInstanceUID, version: version)
            // link() fails with EEXIST instead of replacing: two writers of one UID never clobber each other.
            if link(stagedPath, rootPath + "/" + relative) == 0 {
                try PlacementLog.flushDirectory(studyDirectory)
                if first {
                    try PlacementLog.flushDirectory(rootPath + "/" + Self.bucket(studyInstanceUID))
                    try PlacementLog.flushDirectory(rootPath)
                    durableDirectories.insert(folder)
                }
                return relative
            }
            switch errno {
            case EEXIST:
                version = version == 0 ? Int(Date().timeIntervalSince1970 * 1000) : version + 1
            case ENOENT:
                do {
                    try FileManager.default.createDirectory(atPath: studyDirectory, withIntermediateDirectories: true)
                } catch {
                    throw IngestError(.storage, "cannot create \(studyDirectory): \(error.localizedDescription)")
                }
            default:
                throw IngestError(.storage, "cannot move file into the archive: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// A study's directory relative to `files/`: `xx/<StudyInstanceUID>`.
    func studyFolder(_ studyInstanceUID: String) -> String { "\(Self.bucket(studyInstanceUID))/\(studyInstanceUID)" }

    /// Removes an archived file (unlink: a path that names a directory stays).
    func remove(relativePath: String) {
        unlink(rootPath + "/" + relativePath)
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
