import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The files of the archive: staged under `tmp/`, then linked into `files/xx/<StudyInstanceUID>/
/// <SOPInstanceUID>.dcm`. A link is atomic, so a file's name appears only once the file is whole.
struct BlobStore: Sendable {
    let root: URL
    let staging: URL

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

    /// Links a staged file to a path of its own in the archive (never over an existing file) and
    /// returns the relative path. `durable`: the file's data is already flushed, and its directory
    /// entries are flushed here, so after return it survives a power loss; otherwise its index row
    /// carries its bytes (a journaled file) and the flush comes later. The staged name stays until
    /// the caller removes it after committing the row: a crash in between leaves the two names of
    /// one file, by which the next open tells a placed file without a row (`reclaimUnindexedFiles`).
    func place(staged: URL, studyInstanceUID: String, sopInstanceUID: String, durable: Bool) throws(IngestError) -> String {
        var version = 0
        var created = false
        while true {
            let relative = relativePath(studyInstanceUID: studyInstanceUID, sopInstanceUID: sopInstanceUID, version: version)
            let target = url(forRelativePath: relative)
            let directory = target.deletingLastPathComponent()
            // link() fails with EEXIST instead of replacing: two writers of one UID never clobber each other.
            if link(staged.path, target.path) == 0 {
                if durable { try flushDirectories(of: target, created: created) }
                return relative
            }
            switch errno {
            case EEXIST:
                version = version == 0 ? Int(Date().timeIntervalSince1970 * 1000) : version + 1
            case ENOENT:
                do {
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    created = true
                } catch {
                    throw IngestError(.storage, "cannot create \(directory.path): \(error.localizedDescription)")
                }
            default:
                throw IngestError(.storage, "cannot move file into the archive: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Writes `bytes` durably at a relative path, replacing what is there (a journaled file whose
    /// own flush may not have happened).
    func restore(_ bytes: Data, at relative: String) throws(IngestError) {
        let target = url(forRelativePath: relative)
        let temporary = stagingURL(prefix: "restore")
        defer { unlink(temporary.path) }
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try bytes.write(to: temporary)
        } catch {
            throw IngestError(.storage, "cannot write \(target.path): \(error.localizedDescription)")
        }
        try flush(temporary.path, directory: false)
        guard rename(temporary.path, target.path) == 0 else {
            throw IngestError(.storage, "cannot move \(temporary.path) to \(target.path): \(String(cString: strerror(errno)))")
        }
        try flushDirectories(of: target, created: true)
    }

    /// Flushes the directory entry of a file, and those of its study and bucket directories when
    /// they were just created.
    private func flushDirectories(of file: URL, created: Bool) throws(IngestError) {
        let study = file.deletingLastPathComponent()
        try fsyncDirectory(study.path)
        if created {
            try fsyncDirectory(study.deletingLastPathComponent().path)
            try fsyncDirectory(root.path)
        }
    }

    func remove(relativePath: String) {
        try? FileManager.default.removeItem(at: url(forRelativePath: relativePath))
    }

    private func fsyncDirectory(_ path: String) throws(IngestError) { try flush(path, directory: true) }

    private func flush(_ path: String, directory: Bool) throws(IngestError) {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { throw IngestError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard (directory ? fsync(fd) : fdatasync(fd)) == 0 else {
            throw IngestError(.storage, "flushing \(path) failed: \(String(cString: strerror(errno)))")
        }
    }
}
