import DICOM
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What `loupe check` finds: index rows whose file is lost, and files no row names.
public struct ArchiveCheck: Sendable {
    public struct LostFile: Sendable, Equatable {
        public let sopInstanceUID: String
        /// Relative to `files/`.
        public let path: String
        /// Why the file cannot be served: missing, another size than archived, not readable as DICOM,
        /// or holding another instance.
        public let problem: String
    }
    /// Rows checked.
    public var instances = 0
    public var lost: [LostFile] = []
    /// Files under `files/` that no row names (relative paths).
    public var orphans: [String] = []

    public var isClean: Bool { lost.isEmpty && orphans.isEmpty }
}

/// What `repair` did.
public struct ArchiveRepair: Sendable, Equatable {
    /// Orphans indexed (or found to be copies of indexed instances) and removed from where they were.
    public var reindexed = 0
    /// Orphans that are not archivable instances, left where they are.
    public var unreadableOrphans: [String] = []
    /// Rows of lost files removed; a damaged file is moved to `DATA/quarantine/`.
    public var droppedRows = 0
}

extension Archive {
    /// Whether this process opened the archive alone (no node or other command had it open); only
    /// then can files placed by a running ingest not be mistaken for orphans.
    public var isAlone: Bool { lock.isExclusive }

    /// Checks every row's file (there, at its archived size, readable, the instance the row names)
    /// and looks for files no row names. Reads headers only.
    public func check() throws -> ArchiveCheck {
        let rows = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT SOPInstanceUID, file_path, file_size FROM instance ORDER BY id")
                .map { (uid: $0[0] as String, path: $0[1] as String, size: $0[2] as Int) }
        }
        var result = ArchiveCheck(instances: rows.count)
        for row in rows {
            if let problem = problem(of: row.path, size: row.size, sopInstanceUID: row.uid) {
                result.lost.append(.init(sopInstanceUID: row.uid, path: row.path, problem: problem))
            }
        }
        let named = Set(rows.map(\.path))
        let root = blobs.root.path + "/"
        let enumerator = FileManager.default.enumerator(at: blobs.root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = String(url.path.dropFirst(root.count))
            if !named.contains(path) { result.orphans.append(path) }
        }
        result.orphans.sort()
        return result
    }

    private func problem(of path: String, size: Int, sopInstanceUID: String) -> String? {
        let url = blobs.url(forRelativePath: path)
        var info = stat()
        guard stat(url.path, &info) == 0 else { return "missing" }
        guard Int(info.st_size) == size else { return "\(info.st_size) bytes, archived with \(size)" }
        do {
            let file = try DICOMReader.read(contentsOf: url, options: .headerOnly)
            let found = file.dataSet.string(.sopInstanceUID) ?? file.meta.string(.mediaStorageSOPInstanceUID)
            return found == sopInstanceUID ? nil : "holds instance \(found ?? "(none)")"
        } catch {
            return "not readable as DICOM: \(error)"
        }
    }

    /// Indexes the orphans of a check (removing each from where it was once archived, or when it is
    /// a copy of an instance already archived), and, with `dropLost`, removes the rows of lost files
    /// (moving a damaged one to `DATA/quarantine/`). Only for a process that has the archive alone.
    public func repair(_ check: ArchiveCheck, dropLost: Bool) throws -> ArchiveRepair {
        precondition(isAlone, "repair needs the archive alone")
        var repair = ArchiveRepair()
        for path in check.orphans {
            let url = blobs.url(forRelativePath: path)
            do {
                _ = try importFile(at: url, source: IngestSource(origin: "check"))
                blobs.remove(relativePath: path)
                repair.reindexed += 1
            } catch {
                repair.unreadableOrphans.append(path)
            }
        }
        guard dropLost else { return repair }
        let quarantine = configuration.dataDirectory.appendingPathComponent("quarantine", isDirectory: true)
        for lost in check.lost {
            let removed = try indexWrites.write { db -> Bool in
                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM instance WHERE SOPInstanceUID = ? AND file_path = ?",
                                                  arguments: [lost.sopInstanceUID, lost.path]) else { return false }
                let derived = try String.fetchAll(db, sql: "SELECT path FROM derived_file WHERE instance_pk = ?", arguments: [id])
                for path in derived {
                    try db.execute(sql: "INSERT OR IGNORE INTO removed_file (path, kind) VALUES (?, 'derived')", arguments: [path])
                }
                try IndexWriter.removeInstance(id: id, db: db)
                return true
            }
            guard removed else { continue }
            repair.droppedRows += 1
            let url = blobs.url(forRelativePath: lost.path)
            if FileManager.default.fileExists(atPath: url.path) {
                let target = quarantine.appendingPathComponent(lost.path)
                try? FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try? FileManager.default.moveItem(at: url, to: target)
            }
        }
        try removeObsoleteFiles()
        return repair
    }
}
