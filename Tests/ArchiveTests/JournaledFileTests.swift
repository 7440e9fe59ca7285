@testable import Archive
import DICOM
import Foundation
import GRDB
import LoupeTestSupport
import Testing

/// Small instances are acknowledged once their row and bytes are committed; their files are
/// flushed after, and written out again at the next open if that never happened. A file placed
/// without its row (a crash between the two) is removed at the next open.
@Suite struct JournaledFileTests {
    func journaledPaths(_ archive: Archive) throws -> [String] {
        try archive.database.read { db in try String.fetchAll(db, sql: "SELECT path FROM journaled_file") }
    }

    @Test func aSmallInstanceIsJournaledUntilItsFileIsFlushed() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        try store.store(instance.bytes)
        store.archive.fileFlusher.drain()
        #expect(try journaledPaths(store.archive).isEmpty)
        let located = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID))
        #expect(try Array(Data(contentsOf: located.fileURL)) == instance.bytes)
    }

    @Test func aJournaledFileLostToAPowerCutIsWrittenOutAtTheNextOpen() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        try store.store(instance.bytes)
        store.archive.fileFlusher.drain()
        let located = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID))
        // As after a power cut before the file's flush: the committed row still has the bytes,
        // the file on disk lost its tail.
        try store.archive.database.write { db in
            try db.execute(sql: "INSERT INTO journaled_file (instance_pk, path, bytes) SELECT id, file_path, ? FROM instance WHERE SOPInstanceUID = ?",
                           arguments: [Data(instance.bytes), instance.sopUID])
        }
        let handle = try FileHandle(forWritingTo: located.fileURL)
        try handle.truncate(atOffset: 100)
        try handle.close()
        try store.reopen()
        #expect(try Array(Data(contentsOf: located.fileURL)) == instance.bytes)
        #expect(try journaledPaths(store.archive).isEmpty)
        #expect(store.storedFiles().count == 1)
    }

    @Test func aFileAboveTheLimitIsFlushedBeforeTheAcknowledgementAndNotJournaled() throws {
        let store = try TemporaryArchive()
        var dataSet = Instance().dataSet
        dataSet.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes(Array(repeating: 3, count: 300 * 1024))))
        let bytes = try DICOMWriter.encodeFile(dataSet)
        #expect(bytes.count > store.archive.configuration.journaledFileLimit)
        // Nothing drains the flusher here: a journaled file would still have its row.
        try store.store(bytes)
        #expect(try journaledPaths(store.archive).isEmpty)
        #expect(try Array(Data(contentsOf: #require(store.storedFiles().first))) == bytes)
    }

    @Test func aFilePlacedWithoutItsRowIsRemovedAtTheNextOpen() throws {
        let store = try TemporaryArchive()
        let indexed = Instance(), unindexed = Instance()
        try store.store(indexed.bytes)
        // As a crash between placing a file and committing its row leaves it: the staged name
        // and the archive's name of one file, and no row.
        let staged = store.archive.stagingURL(prefix: "dimse")
        try Data(unindexed.bytes).write(to: staged)
        let placed = try store.archive.blobs.place(staged: staged, studyInstanceUID: unindexed.studyUID,
                                                   sopInstanceUID: unindexed.sopUID, durable: false)
        // And one whose row did commit, the crash coming before its staged name went.
        let committed = Instance()
        try store.store(committed.bytes)
        let committedPath = try #require(try store.archive.instance(sopInstanceUID: committed.sopUID)).fileURL
        let secondName = store.archive.stagingURL(prefix: "dimse")
        #expect(link(committedPath.path, secondName.path) == 0)
        #expect(store.storedFiles().count == 3)
        try store.reopen()
        #expect(!FileManager.default.fileExists(atPath: store.archive.fileURL(relativePath: placed).path))
        #expect(FileManager.default.fileExists(atPath: committedPath.path))
        #expect(store.storedFiles().count == 2 && store.stagedFiles().isEmpty)
        #expect(try store.archive.instance(sopInstanceUID: indexed.sopUID) != nil)
    }
}
