import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What a crash leaves behind: files in the staging directory, and files placed in the archive
/// whose index row was never committed. A staged file keeps its name until its row is committed
/// (`ingest(staged:)`), so a placed file without a row still has that second name.
extension Archive {
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
