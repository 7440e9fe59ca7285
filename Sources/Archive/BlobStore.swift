import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The files of the archive: staged under `tmp/`, made durable (fsync), then renamed into
/// `files/xx/yy/<SOPInstanceUID>.dcm`. A rename is atomic, so a file is either absent or complete.
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

    /// Removes staged files a crash left behind; returns how many there were.
    @discardableResult
    func removeOrphans() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? []
        for name in names { try? FileManager.default.removeItem(at: staging.appendingPathComponent(name)) }
        return names.count
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

    /// Moves a staged file whose data is already durable to a path of its own (never over an
    /// existing file), then fsyncs the directory: after return the file survives a power loss.
    /// Returns the relative path.
    func commit(staged: URL, studyInstanceUID: String, sopInstanceUID: String) throws(IngestError) -> String {
        var version = 0
        while true {
            let relative = relativePath(studyInstanceUID: studyInstanceUID, sopInstanceUID: sopInstanceUID, version: version)
            let target = url(forRelativePath: relative)
            let directory = target.deletingLastPathComponent()
            // link() fails with EEXIST instead of replacing: two writers of one UID never clobber each other.
            if link(staged.path, target.path) == 0 {
                unlink(staged.path)
                try fsyncDirectory(directory.path)
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
