import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What a crash leaves behind: files in the staging directory, files placed in the archive whose
/// index row was never committed (a staged file keeps its name until its row is committed, so such
/// a file still has that second name), and files a committed change made obsolete but had not
/// removed yet (recorded in `removed_file` by that change).
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
            if (try? FileManager.default.removeItem(at: url)) != nil { removed += 1 }
        }
        try database.write { db in try db.execute(sql: "DELETE FROM removed_file") }
        return removed
    }

    /// Removes the staging directory's contents; a staged file with a second name was placed in the
    /// archive before the crash, and that copy goes too unless an index row names it. Returns (staged
    /// entries, placed files without a row). Run only by a process that has the archive alone.
    @discardableResult
    func reclaimUnindexedFiles() throws -> (staged: Int, unindexed: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs.staging.path)) ?? []
        var unindexed = 0
        for name in names {
            let staged = blobs.staging.appendingPathComponent(name)
            defer { try? FileManager.default.removeItem(at: staged) }
            var info = stat()
            guard stat(staged.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_nlink > 1,
                  let (sop, placed) = try? placedCopy(of: staged, inode: info.st_ino) else { continue }
            let indexed = try database.read { db in
                try String.fetchOne(db, sql: "SELECT file_path FROM instance WHERE SOPInstanceUID = ?", arguments: [sop]) == placed
            }
            if !indexed {
                blobs.remove(relativePath: placed)
                unindexed += 1
            }
        }
        return (names.count, unindexed)
    }

    /// The SOP Instance UID of a staged file and the relative path of its name in the archive (same
    /// inode), looked for where ingest places it.
    private func placedCopy(of staged: URL, inode: ino_t) throws -> (String, String)? {
        let file = try StagedFile(staged).file
        let attributes = try InstanceAttributes(file.dataSet, meta: file.meta)
        let folder = (blobs.relativePath(studyInstanceUID: attributes.studyInstanceUID, sopInstanceUID: attributes.sopInstanceUID)
                      as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs.url(forRelativePath: folder).path)) ?? []
        for name in names where name.hasPrefix(attributes.sopInstanceUID + ".") {
            var info = stat()
            let relative = folder + "/" + name
            if stat(blobs.url(forRelativePath: relative).path, &info) == 0, info.st_ino == inode { return (attributes.sopInstanceUID, relative) }
        }
        return nil
    }
}
