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
    /// Orphans that are intact copies of instances whose indexed file is lost, kept where they are
    /// while those rows stay (repair with `dropLost` indexes them in their place).
    public var keptCopies: [String] = []
}

extension Archive {
    /// Whether no other process had the archive open when this one opened it (files a running
    /// ingest is placing look like orphans otherwise).
    public var wasAloneAtOpen: Bool { lock.isExclusive }

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

    /// Removes, with `dropLost`, the rows of lost files (moving a damaged file to `DATA/quarantine/`),
    /// then indexes the orphans of a check, removing each from where it was once it is archived (or
    /// found to be a copy of an archived instance): an orphan that is the intact copy of a lost
    /// instance thus takes its place. Only on an archive opened `alone`.
    public func repair(_ check: ArchiveCheck, dropLost: Bool) throws -> ArchiveRepair {
        precondition(heldAlone, "repair needs the archive opened alone")
        var repair = ArchiveRepair()
        if dropLost {
            let quarantine = configuration.dataDirectory.appendingPathComponent("quarantine", isDirectory: true)
            for lost in check.lost where try dropRow(of: lost) {
                repair.droppedRows += 1
                let url = blobs.url(forRelativePath: lost.path)
                if FileManager.default.fileExists(atPath: url.path) {
                    let target = quarantine.appendingPathComponent(lost.path)
                    try? FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try? FileManager.default.moveItem(at: url, to: target)
                }
            }
        }
        let lostInstances = dropLost ? [] : Set(check.lost.map(\.sopInstanceUID))
        for path in check.orphans {
            let url = blobs.url(forRelativePath: path)
            guard let result = try? importFile(at: url, source: IngestSource(origin: "check")) else {
                repair.unreadableOrphans.append(path)
                continue
            }
            if result.outcome == .duplicate && lostInstances.contains(result.sopInstanceUID) {
                repair.keptCopies.append(path)  // the indexed file is the lost one: this copy stays
                continue
            }
            blobs.remove(relativePath: path)
            repair.reindexed += 1
        }
        try removeObsoleteFiles()
        return repair
    }

    /// Removes the row of a lost file (its derived files recorded for removal). False when the row
    /// no longer names that file.
    private func dropRow(of lost: ArchiveCheck.LostFile) throws -> Bool {
        try indexWrites.write { db -> Bool in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM instance WHERE SOPInstanceUID = ? AND file_path = ?",
                                              arguments: [lost.sopInstanceUID, lost.path]) else { return false }
            for path in try String.fetchAll(db, sql: "SELECT path FROM derived_file WHERE instance_pk = ?", arguments: [id]) {
                try db.execute(sql: "INSERT INTO removed_file (path, kind) VALUES (?, 'derived') ON CONFLICT DO NOTHING", arguments: [path])
            }
            try IndexWriter.removeInstance(id: id, db: db)
            return true
        }
    }
}
