@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

/// A crash between placing a file and committing its row leaves a file no row names; the next open
/// removes it (its study directory is in the placement log), and keeps every file a row names.
@Suite struct RecoveryTests {
    @Test func aFilePlacedWithoutItsRowIsRemovedAtTheNextOpen() throws {
        let store = try TemporaryArchive()
        let indexed = Instance(), killed = Instance(), powerCut = Instance(studyUID: indexed.studyUID)
        try store.store(indexed.bytes)
        // As a crash between placing a file and committing its row leaves it: the staged name and
        // the archive's name of one file, and no row.
        let staged = store.archive.stagingURL(prefix: "dimse")
        try Data(killed.bytes).write(to: staged)
        let placed = try store.archive.blobs.place(staged: staged, studyInstanceUID: killed.studyUID, sopInstanceUID: killed.sopUID)
        // As a power cut can leave it: the staging directory was never flushed, so only the
        // archive's name survives; in a study with an indexed file beside it.
        let lost = store.archive.stagingURL(prefix: "dimse")
        try Data(powerCut.bytes).write(to: lost)
        let alone = try store.archive.blobs.place(staged: lost, studyInstanceUID: powerCut.studyUID, sopInstanceUID: powerCut.sopUID)
        #expect(unlink(lost.path) == 0)
        // And one whose row did commit, the crash coming before its staged name went.
        let committed = Instance()
        try store.store(committed.bytes)
        let committedPath = try #require(try store.archive.instance(sopInstanceUID: committed.sopUID)).fileURL
        let secondName = store.archive.stagingURL(prefix: "dimse")
        #expect(link(committedPath.path, secondName.path) == 0)
        // And a staged file never placed, and a directory.
        let leftover = store.archive.stagingURL(prefix: "upload")
        try Data([1, 2, 3]).write(to: leftover)
        try FileManager.default.createDirectory(at: store.archive.stagingURL(prefix: "dir"), withIntermediateDirectories: false)
        #expect(store.storedFiles().count == 4)
        #expect(Set(store.archive.blobs.placements.directories()).isSuperset(of: [killed, powerCut, committed].map {
            store.archive.blobs.studyFolder($0.studyUID) }))
        try store.reopen()
        for path in [placed, alone] { #expect(!FileManager.default.fileExists(atPath: store.archive.fileURL(relativePath: path).path)) }
        #expect(try Array(Data(contentsOf: committedPath)) == committed.bytes)
        #expect(store.storedFiles().count == 2 && store.stagedFiles().isEmpty)
        #expect(try store.archive.instance(sopInstanceUID: indexed.sopUID) != nil)
        // Clean again: the log starts over.
        #expect(store.archive.blobs.placements.directories().isEmpty)
    }

    /// A line of the placement log that does not name a study directory as ingest makes one (an older
    /// archive may hold `..` as a UID; the file may have been edited) is not looked into.
    @Test func recoveryLooksOnlyIntoStudyDirectories() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        try store.store(instance.bytes)
        for line in ["\(BlobStore.bucket(".."))/..", "..", "../..", "/", "00/1.2/../..", BlobStore.bucket(instance.studyUID)] {
            try store.archive.blobs.placements.record(line)
        }
        try store.reopen()
        #expect(store.storedFiles().count == 1)
        #expect(try store.archive.instance(sopInstanceUID: instance.sopUID) != nil)
        #expect(store.archive.blobs.placements.directories().isEmpty)
    }

    /// A process that ends alone on the archive empties the placement log; one beside another keeps it.
    @Test func closingAloneEmptiesThePlacementLog() throws {
        let store = try TemporaryArchive()
        try store.store(Instance().bytes)
        var beside: Archive? = try Archive(configuration: ArchiveConfiguration(dataDirectory: store.directory))
        store.archive.close()
        #expect(!store.archive.blobs.placements.directories().isEmpty)
        #expect(beside != nil)
        beside = nil
        store.archive.close()
        #expect(store.archive.blobs.placements.directories().isEmpty)
    }

    /// Closing alone on a log with lines of a process that ended without closing (killed beside this
    /// one) does what the next open would: cleans their directories before forgetting them.
    @Test func closingAloneCleansUpAfterAProcessKilledBesideIt() throws {
        let store = try TemporaryArchive()
        let placedByTheOther = Instance()
        var other: Archive? = try Archive(configuration: ArchiveConfiguration(dataDirectory: store.directory))
        let staged = other!.stagingURL(prefix: "dimse")
        try Data(placedByTheOther.bytes).write(to: staged)
        let placed = try other!.blobs.place(staged: staged, studyInstanceUID: placedByTheOther.studyUID, sopInstanceUID: placedByTheOther.sopUID)
        other = nil  // killed: no close, no row
        try store.store(Instance().bytes)
        store.archive.close()
        #expect(!FileManager.default.fileExists(atPath: store.archive.fileURL(relativePath: placed).path))
        #expect(store.storedFiles().count == 1 && store.archive.blobs.placements.directories().isEmpty)
    }

    @Test func anArchivedFileHasOneNameOnceIngestReturns() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        let staged = store.archive.stagingURL(prefix: "test")
        try Data(instance.bytes).write(to: staged)
        _ = try store.archive.ingest(staged: staged, source: IngestSource(origin: "T"))
        // Gone once the row is in (ingest's last step), and the archived file has one name.
        #expect(!FileManager.default.fileExists(atPath: staged.path))
        let located = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID))
        let attributes = try FileManager.default.attributesOfItem(atPath: located.fileURL.path)
        #expect((attributes[.referenceCount] as? Int) == 1)
    }

    @Test func aReplacedInstancesFileLeftByACrashIsRemovedAtTheNextOpen() throws {
        let store = try TemporaryArchive(policy: .replace)
        var instance = Instance()
        try store.store(instance.bytes)
        let first = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID)).fileURL
        instance.patientName = "CORRECTED^NAME"
        #expect(try store.store(instance.bytes).outcome == .replaced)
        let current = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID)).fileURL
        // A replacement removes the old file and its record at once.
        #expect(!FileManager.default.fileExists(atPath: first.path) && store.storedFiles().count == 1)
        #expect(try store.archive.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM removed_file") } == 0)
        // As a crash right after the replacing commit leaves it: the old file still there, its record
        // committed; and a record naming the current file (a path placed again) must not take it.
        try Data(instance.bytes).write(to: first)
        let root = store.directory.appendingPathComponent("files").path + "/"
        try store.archive.database.write { db in
            for url in [first, current] {
                try db.execute(sql: "INSERT INTO removed_file (path, kind) VALUES (?, 'file')", arguments: [String(url.path.dropFirst(root.count))])
            }
        }
        try store.reopen(policy: .replace)
        #expect(!FileManager.default.fileExists(atPath: first.path))
        #expect(try Array(Data(contentsOf: current)) == instance.bytes)
        #expect(try store.archive.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM removed_file") } == 0)
    }

    @Test func bucketNamesStayAsExistingArchivesHaveThem() {
        // FNV-1a's top byte in two lowercase hex digits (computed apart, in Python).
        #expect(BlobStore.bucket("1.2.3") == "18")
        #expect(BlobStore.bucket("1.2.826.0.1.3680043.8.498.34634661314956984433591953767113834955") == "6f")
        #expect(BlobStore.bucket("1.2.3.118") == "01" && BlobStore.bucket("1.2.3.60") == "f0")
    }

    @Test func directoriesKnownToBeFlushedAreForgottenAtTheLimit() {
        let known = PathSet(limit: 2)
        known.insert("a")
        known.insert("b")
        #expect(known.contains("a") && known.contains("b"))
        known.insert("c")  // over the limit: flushed again when next written to, never wrongly trusted
        #expect(!known.contains("a") && !known.contains("b") && known.contains("c"))
    }
}
