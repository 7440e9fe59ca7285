import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What a crash leaves behind: files in the staging directory, files placed in the archive whose
/// index row was never committed (in a directory the placement log names), and files a committed
/// change made obsolete but had not removed yet (recorded in `removed_file` by that change).
extension Archive {
    /// Removes the files recorded as obsolete that no row names (a replacement may have been placed
    /// at a path again), and their records. Returns how many files went.
    @discardableResult
    func removeObsoleteFiles() throws -> Int {
        let obsolete = try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.path, r.kind FROM removed_file r
                WHERE (r.kind = 'file' AND NOT EXISTS (SELECT 1 FROM instance i WHERE i.file_path = r.path))
                   OR (r.kind = 'derived' AND NOT EXISTS (SELECT 1 FROM derived_file d WHERE d.path = r.path))
                """).map { (path: $0["path"] as String, kind: $0["kind"] as String) }
        }
        var removed = 0
        for (path, kind) in obsolete {
            let url = kind == "file" ? blobs.url(forRelativePath: path) : derivedURL(relativePath: path)
            if unlink(url.path) == 0 { removed += 1 }   // a file, never a directory
        }
        // Only the records read, and those of paths in use again: another writer may be recording more.
        try database.write { db in
            let delete = try db.makeStatement(sql: "DELETE FROM removed_file WHERE path = ? AND kind = ?")
            for (path, kind) in obsolete { try delete.execute(arguments: [path, kind]) }
            try db.execute(sql: """
                DELETE FROM removed_file
                WHERE (kind = 'file' AND EXISTS (SELECT 1 FROM instance i WHERE i.file_path = removed_file.path))
                   OR (kind = 'derived' AND EXISTS (SELECT 1 FROM derived_file d WHERE d.path = removed_file.path))
                """)
        }
        return removed
    }

    /// Removes the staging directory's contents, and from each study directory in the placement log
    /// every file no row names (placed by a run that ended before committing its row), then empties
    /// the log. Returns (staged entries, placed files without a row). Run only by a process that has
    /// the archive alone.
    @discardableResult
    func reclaimUnindexedFiles() throws -> (staged: Int, unindexed: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs.staging.path)) ?? []
        for name in names { try? FileManager.default.removeItem(at: blobs.staging.appendingPathComponent(name)) }
        var unindexed = 0
        for folder in blobs.placements.directories() {
            // Only a study directory as ingest names it (never `..` or anything outside `files/`).
            guard let study = folder.split(separator: "/").last.map(String.init), UIDSyntax.isAcceptable(study),
                  blobs.studyFolder(study) == folder else { continue }
            let files = (try? FileManager.default.contentsOfDirectory(atPath: blobs.url(forRelativePath: folder).path)) ?? []
            guard !files.isEmpty else { continue }
            let named = try database.read { db in
                Set(try String.fetchAll(db, sql: """
                    SELECT i.file_path FROM instance i JOIN series s ON i.series_pk = s.id JOIN study t ON s.study_pk = t.id
                    WHERE t.StudyInstanceUID = ?
                    """, arguments: [study]))
            }
            var removedHere = false
            defer { if removedHere { try? PlacementLog.flushDirectory(blobs.url(forRelativePath: folder).path) } }
            for name in files where !named.contains(folder + "/" + name) {
                let path = folder + "/" + name
                // Ingest places a file in its row's study; a row elsewhere naming it still keeps it.
                let namedElsewhere = try database.read { db in
                    try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM instance WHERE file_path = ?)", arguments: [path]) ?? false
                }
                if !namedElsewhere {
                    blobs.remove(relativePath: path)
                    unindexed += 1
                    removedHere = true
                }
            }
        }
        // Only once the removals are on disk (their directories flushed, as the loop ends each) does
        // the log forget where to look.
        try blobs.placements.empty()
        return (names.count, unindexed)
    }
}
