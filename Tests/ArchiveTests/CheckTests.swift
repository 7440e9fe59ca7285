@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

/// `loupe check`: lost files (missing, truncated, damaged, another instance) and orphans found;
/// the repair indexes orphans, drops the rows of lost files and quarantines damaged ones.
@Suite struct CheckTests {
    @Test func findsLostFilesAndOrphansAndRepairsThem() throws {
        let store = try TemporaryArchive()
        // SOP Instance UIDs of one length: swapping two leaves a file's size as it was.
        let instances = (0..<5).map { Instance(sopUID: "1.2.826.0.1.3680043.8.498.7.\(1000 + $0)") }
        for instance in instances { try store.store(instance.bytes) }
        // Alone, and with the placement log emptied: the next open does not clean these directories.
        try store.reopen(alone: true)
        func path(_ i: Int) throws -> URL { try #require(try store.archive.instance(sopInstanceUID: instances[i].sopUID)).fileURL }
        let missing = try path(0), truncated = try path(1), otherInstance = try path(2), intact = try path(4)
        try FileManager.default.removeItem(at: missing)
        let handle = try FileHandle(forWritingTo: truncated)
        try handle.truncate(atOffset: 100)
        try handle.close()
        // Same size, another instance's bytes (the two instances differ only in their UIDs).
        var swapped = instances[2]
        swapped.sopUID = instances[3].sopUID
        try Data(swapped.bytes).write(to: otherInstance)
        // An instance whose row is gone, and a file that is no DICOM at all.
        let orphan = Instance()
        let orphanURL = intact.deletingLastPathComponent().appendingPathComponent("orphan.dcm")
        try Data(orphan.bytes).write(to: orphanURL)
        let junkURL = intact.deletingLastPathComponent().appendingPathComponent("junk.bin")
        try Data("not DICOM".utf8).write(to: junkURL)

        let found = try store.archive.check()
        #expect(found.instances == 5)
        #expect(Dictionary(uniqueKeysWithValues: found.lost.map { ($0.sopInstanceUID, $0.problem) }) == [
            instances[0].sopUID: "missing",
            instances[1].sopUID: "100 bytes, archived with \(instances[1].bytes.count)",
            instances[2].sopUID: "holds instance \(instances[3].sopUID)",
        ])
        let folder = intact.deletingLastPathComponent().lastPathComponent
        #expect(found.orphans.map { ($0 as NSString).lastPathComponent }.sorted() == ["junk.bin", "orphan.dcm"])
        #expect(found.orphans.allSatisfy { $0.contains(folder) })

        let repaired = try store.archive.repair(found, dropLost: true)
        #expect(repaired.reindexed == 1 && repaired.droppedRows == 3 && repaired.unreadableOrphans.count == 1)
        #expect(try store.archive.instance(sopInstanceUID: orphan.sopUID) != nil)
        #expect(try store.archive.instance(sopInstanceUID: instances[0].sopUID) == nil)
        #expect(try store.archive.instance(sopInstanceUID: instances[4].sopUID) != nil)
        let quarantine = store.directory.appendingPathComponent("quarantine")
        #expect(FileManager.default.fileExists(atPath: quarantine.appendingPathComponent(found.lost.first { $0.sopInstanceUID == instances[1].sopUID }!.path).path))
        let again = try store.archive.check()
        #expect(again.lost.isEmpty && again.orphans.map { ($0 as NSString).lastPathComponent } == ["junk.bin"])
        #expect(again.instances == 3)
    }

    /// An orphan that is an intact copy of an instance whose indexed file is lost: kept while the row
    /// stays, and indexed in its place once the lost row is dropped.
    @Test func anIntactCopyOfALostInstanceTakesItsPlace() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        try store.store(instance.bytes)
        try store.reopen(alone: true)
        let indexed = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID)).fileURL
        let copy = indexed.deletingLastPathComponent().appendingPathComponent("copy.dcm")
        try FileManager.default.copyItem(at: indexed, to: copy)
        try FileManager.default.removeItem(at: indexed)
        let found = try store.archive.check()
        #expect(found.lost.count == 1 && found.orphans.count == 1)
        let kept = try store.archive.repair(found, dropLost: false)
        #expect(kept.keptCopies.count == 1 && kept.reindexed == 0 && FileManager.default.fileExists(atPath: copy.path))
        let restored = try store.archive.repair(store.archive.check(), dropLost: true)
        #expect(restored.droppedRows == 1 && restored.reindexed == 1 && !FileManager.default.fileExists(atPath: copy.path))
        let now = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID))
        #expect(now.fileIsIntact)
        #expect(try Array(Data(contentsOf: now.fileURL)) == instance.bytes)
        #expect(try store.archive.check().isClean)
    }

    @Test func aRepairNeedsTheArchiveAlone() throws {
        let store = try TemporaryArchive()
        #expect(throws: ArchiveInUse.self) {
            _ = try Archive(configuration: ArchiveConfiguration(dataDirectory: store.directory), alone: true)
        }
    }
}
