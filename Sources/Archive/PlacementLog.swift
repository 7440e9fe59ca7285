import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The study directories into which files may have been placed whose rows never committed: a line
/// per directory, appended and flushed before a process first places a file there. The first
/// process to open the archive alone reads it, removes from those directories every file no row
/// names, and empties it.
///
/// A placed file's other name in the staging directory does not tell this after a power cut: the
/// staging directory is never flushed, so the placed name can survive where the staged one is lost.
final class PlacementLog: Sendable {
    private let url: URL
    private let descriptor: Int32
    /// Lines this process appended since the log was last emptied.
    private let appended = Atomic<Int>(0)

    init(url: URL) throws {
        self.url = url
        let existed = FileManager.default.fileExists(atPath: url.path)
        descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        // The log's own name must survive before any line in it counts.
        if !existed { try Self.flushDirectory(url.deletingLastPathComponent().path) }
    }

    deinit { close(descriptor) }

    /// Appends a directory (relative to `files/`) and flushes it; a file placed there after return
    /// is found at the next recovery even if power fails before its row commits.
    func record(_ directory: String) throws(IngestError) {
        // One write with O_APPEND: lines of concurrent writers (threads, processes) never interleave.
        // The leading newline ends a line a full disk cut short, so the two never merge.
        let line = Array(("\n" + directory + "\n").utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count, fdatasync(descriptor) == 0 else {
            throw IngestError(.storage, "cannot record a placement in \(url.path): \(String(cString: strerror(errno)))")
        }
        appended.add(1, ordering: .relaxed)
    }

    /// Whether every line in the log is one this process appended.
    var holdsOnlyOwnLines: Bool { lines().count == appended.load(ordering: .relaxed) }

    /// The directories recorded since the log was last emptied, each once (a line a crash tore is
    /// left out: its directory had nothing placed yet).
    func directories() -> [String] {
        var seen = Set<String>()
        return lines().filter { seen.insert($0).inserted }
    }

    /// Every complete line, in order (bytes that are not UTF-8 make a line no directory has).
    private func lines() -> [String] {
        guard let data = try? Data(contentsOf: url) else { return [] }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        if !text.hasSuffix("\n"), !lines.isEmpty { lines.removeLast() }
        return lines
    }

    /// Empties the log once its directories are clean. Only by a process that has the archive alone.
    func empty() throws {
        guard ftruncate(descriptor, 0) == 0, fsync(descriptor) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        appended.store(0, ordering: .relaxed)
    }

    static func flushDirectory(_ path: String) throws(IngestError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw IngestError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw IngestError(.storage, "fsync failed for \(path): \(String(cString: strerror(errno)))")
        }
    }
}
