@testable import Archive
import DICOM
import Foundation
import GRDB
import LoupeTestSupport
import Testing

@Suite struct DerivationQueueTests {
    /// A claim reads the first due job from the partial index; sorting all pending jobs made each
    /// claim cost 0.19 s behind a backlog of 376,000 (found by bench/soak).
    @Test func claimsAndTheNextDueTimeReadTheDueIndexWithoutSorting() throws {
        let store = try TemporaryArchive()
        let archive = store.archive
        for query in [archive.dueJobs + " ORDER BY not_before, instance_pk LIMIT 1", archive.dueJobs + " LIMIT 1"] {
            let plan = try archive.database.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query, arguments: [0.0]).map { $0["detail"] as String }
            }
            #expect(plan.contains { $0.contains("derivation_job_due") }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
        }
    }

    static let policy = DerivationPolicy(processors: ["png", "embedding"], maxAttempts: 3, firstRetryDelay: 10, backoffFactor: 4)

    struct Recorded: Encodable { let window: Double }

    func png(_ byte: UInt8) throws -> DerivedFile {
        try DerivedFile(kind: "png", fileExtension: "png", bytes: [0x89, byte], parameters: Recorded(window: 40))
    }

    func derivedPNGs(_ store: TemporaryArchive) -> [URL] {
        let all = FileManager.default.enumerator(at: store.directory.appendingPathComponent("derived"), includingPropertiesForKeys: nil)
        return (all?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "png" }
    }

    @Test func ingestEnqueuesAJobPerProcessorInItsTransaction() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        try store.store(Instance().bytes)
        #expect(try store.archive.derivationCounts()["pending"] == 2)
        // A duplicate kept as is adds nothing.
        let instance = Instance()
        try store.store(instance.bytes)
        try store.store(instance.bytes)
        #expect(try store.archive.derivationCounts()["pending"] == 4)
        let without = try TemporaryArchive()
        try without.store(Instance().bytes)
        #expect(try without.archive.derivationCounts()["pending"] == 0)
    }

    @Test func claimRunsProcessorsInPolicyOrderAndRecordsDerivedFiles() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        let instance = Instance()
        try store.store(instance.bytes)
        let claim = try #require(try store.archive.claimDerivations())
        #expect(claim.processors == ["png", "embedding"])
        #expect(claim.input.sopInstanceUID == instance.sopUID)
        #expect(claim.input.rows == 2)
        #expect(try store.archive.claimDerivations() == nil)  // both jobs are running
        #expect(try store.archive.derivationCounts()["running"] == 2)

        try store.archive.completeDerivation(claim, processor: "png", .success(.derived([png(1)])))
        try store.archive.completeDerivation(claim, processor: "embedding", .success(.skipped("not an image")))
        let status = try #require(try store.archive.derivations(sopInstanceUID: instance.sopUID))
        #expect(status.jobs.map { "\($0.processor):\($0.state)" } == ["embedding:skipped", "png:done"])
        #expect(status.jobs.first?.lastError == "not an image")
        let file = try #require(status.files.first)
        #expect(file.name == "\(instance.sopUID).png")
        #expect(try Array(Data(contentsOf: file.fileURL)) == [0x89, 1])
        #expect(file.parameters == #"{"window":40}"#)
        let byName = try #require(try store.archive.derivedFile(name: file.name))
        #expect(byName.sopInstanceUID == instance.sopUID && byName.patientID == instance.patientID)
        #expect(try store.archive.statistics().derivations == ["pending": 0, "running": 0, "done": 1, "failed": 0, "skipped": 1])
    }

    @Test func transientFailuresAreRetriedWithBackoffThenRecorded() throws {
        let store = try TemporaryArchive(derivation: DerivationPolicy(processors: ["png"], maxAttempts: 3, firstRetryDelay: 10))
        let instance = Instance()
        try store.store(instance.bytes)
        let start = Date()
        var now = start
        for attempt in 1...3 {
            let claim = try #require(try store.archive.claimDerivations(now: now), "attempt \(attempt)")
            #expect(claim.attempts["png"] == attempt)
            try store.archive.completeDerivation(claim, processor: "png", .failure(DerivationFailure("disk busy \(attempt)")), now: now)
            if attempt < 3 {
                let delay = 10 * pow(4, Double(attempt - 1))  // 10 s, then 40 s
                #expect(try store.archive.claimDerivations(now: now.addingTimeInterval(delay - 1)) == nil)
                let due = try #require(try store.archive.nextDerivationDue())
                #expect(abs(due.timeIntervalSince(now) - delay) < 0.01)
                now = now.addingTimeInterval(delay)
            }
        }
        let job = try #require(try store.archive.derivations(sopInstanceUID: instance.sopUID)?.jobs.first)
        #expect(job.state == "failed" && job.attempts == 3 && job.lastError == "disk busy 3")
        #expect(try store.archive.nextDerivationDue() == nil)

        // --failed puts it back with fresh attempts.
        #expect(try store.archive.requeueDerivations(.failed) == 1)
        #expect(try store.archive.claimDerivations()?.attempts["png"] == 1)
    }

    @Test func bookkeepingLeavesIngestCommitsFullySynchronous() throws {
        let store = try TemporaryArchive(derivation: DerivationPolicy(processors: ["png"]))
        try store.store(Instance().bytes)
        let claim = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(claim, processor: "png", .failure(DerivationFailure("x", permanent: true)))
        // 2 = FULL: an acknowledged instance's commit is flushed before the response.
        #expect(try store.archive.database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 2)
    }

    @Test func permanentFailuresAreRecordedAtOnce() throws {
        let store = try TemporaryArchive(derivation: DerivationPolicy(processors: ["png"]))
        let instance = Instance()
        try store.store(instance.bytes)
        let claim = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(claim, processor: "png", .failure(DerivationFailure("corrupt", permanent: true)))
        #expect(try store.archive.derivationCounts()["failed"] == 1)
    }

    @Test func aRestartResumesInterruptedJobs() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        try store.store(Instance().bytes)
        _ = try #require(try store.archive.claimDerivations())
        try store.reopen(derivation: Self.policy)  // the process died while the jobs ran
        #expect(try store.archive.derivationCounts()["pending"] == 2)
        #expect(try store.archive.claimDerivations()?.processors == ["png", "embedding"])
    }

    @Test func anOpenBesideAnotherLeavesItsRunningJobsAndStagedFilesAlone() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        try store.store(Instance().bytes)
        _ = try #require(try store.archive.claimDerivations())
        let arriving = store.archive.stagingURL(prefix: "arriving")
        try Data([1, 2, 3]).write(to: arriving)
        do {  // `loupe import` or `loupe similar` opening the archive of a serving node
            let beside = try Archive(configuration: store.archive.configuration)
            #expect(try beside.derivationCounts()["running"] == 2)
            #expect(FileManager.default.fileExists(atPath: arriving.path))
        }
        // Once every process is gone, the next open recovers.
        try store.reopen(derivation: Self.policy)
        #expect(try store.archive.derivationCounts()["pending"] == 2)
        #expect(!FileManager.default.fileExists(atPath: arriving.path))
    }

    @Test func abandonedRunningJobsAreClaimedAgainAndTheFirstClaimGoesStale() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        let instance = Instance()
        try store.store(instance.bytes)
        let first = try #require(try store.archive.claimDerivations())
        #expect(try store.archive.claimDerivations() == nil)  // running, and not for long
        // A quarter of an hour later nobody has finished them: the process that claimed them is gone.
        let second = try #require(try store.archive.claimDerivations(now: Date(timeIntervalSinceNow: 16 * 60)))
        #expect(second.input.sopInstanceUID == instance.sopUID && second.processors == first.processors)
        #expect(second.attempts["png"] == 2)
        try store.archive.completeDerivation(second, processor: "png", .success(.derived([try png(1)])))
        // The first claim finishing late changes nothing.
        try store.archive.completeDerivation(first, processor: "png", .success(.skipped("late")))
        let jobs = try #require(try store.archive.derivations(sopInstanceUID: instance.sopUID)).jobs
        #expect(jobs.first { $0.processor == "png" }?.state == "done")
        #expect(derivedPNGs(store).count == 1)
    }

    @Test func processorsRegisteredLaterGetJobsForArchivedInstances() throws {
        let store = try TemporaryArchive()
        try store.store(Instance().bytes)
        try store.store(Instance().bytes)
        try store.reopen(derivation: Self.policy)
        #expect(try store.archive.derivationCounts()["pending"] == 4)
    }

    @Test func aProcessorRegisteredAgainGetsJobsForWhatArrivedWithoutIt() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        try store.store(Instance().bytes)
        try store.reopen(derivation: DerivationPolicy(processors: ["png"]))
        try store.store(Instance().bytes)
        #expect(try store.archive.derivationCounts()["pending"] == 3)
        try store.reopen(derivation: Self.policy)
        #expect(try store.archive.derivationCounts()["pending"] == 4)
    }

    @Test func requeueByScopeAndProcessor() throws {
        let store = try TemporaryArchive(derivation: Self.policy)
        let first = Instance(), second = Instance()
        try store.store(first.bytes)
        try store.store(second.bytes)
        while let claim = try store.archive.claimDerivations() {
            for p in claim.processors { try store.archive.completeDerivation(claim, processor: p, .success(.derived([]))) }
        }
        #expect(try store.archive.derivationCounts()["done"] == 4)
        #expect(try store.archive.requeueDerivations(.instance(sopInstanceUID: first.sopUID)) == 2)
        // Pending jobs are requeued too (a retry waiting for its back-off starts over now).
        #expect(try store.archive.requeueDerivations(.all, processors: ["embedding"]) == 2)
        #expect(try store.archive.derivationCounts()["pending"] == 3)
        #expect(throws: DerivationError.self) { try store.archive.requeueDerivations(.instance(sopInstanceUID: "1.2.3.4")) }
        #expect(throws: DerivationError.self) { try store.archive.requeueDerivations(.all, processors: ["thumbnail"]) }
    }

    @Test func ingestJobsGoBeforeRequeuedOnes() throws {
        let store = try TemporaryArchive(derivation: DerivationPolicy(processors: ["png"]))
        let old = Instance()
        try store.store(old.bytes)
        let claim = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(claim, processor: "png", .success(.derived([])))
        try store.archive.requeueDerivations(.all)
        let live = Instance()
        try store.store(live.bytes)
        #expect(try store.archive.claimDerivations()?.input.sopInstanceUID == live.sopUID)
    }

    @Test func replacingAnInstanceRemovesItsDerivedFilesAndDerivesAgain() throws {
        let policy = DerivationPolicy(processors: ["png"])
        let store = try TemporaryArchive(policy: .replace, derivation: policy)
        var instance = Instance()
        try store.store(instance.bytes)
        let claim = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(claim, processor: "png", .success(.derived([png(1)])))
        let old = try #require(try store.archive.derivedFile(name: "\(instance.sopUID).png")).fileURL
        instance.instanceNumber = 9
        #expect(try store.store(instance.bytes).outcome == .replaced)
        #expect(!FileManager.default.fileExists(atPath: old.path))
        #expect(try store.archive.derivedFile(name: "\(instance.sopUID).png") == nil)
        // A job of the old row finishing late leaves nothing behind.
        try store.archive.completeDerivation(claim, processor: "png", .success(.derived([png(2)])))
        #expect(try store.archive.derivedFile(name: "\(instance.sopUID).png") == nil)
        #expect(derivedPNGs(store).isEmpty)
        #expect(try store.archive.derivationCounts()["pending"] == 1)
        // Deriving again replaces the file.
        let fresh = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(fresh, processor: "png", .success(.derived([png(3)])))
        try store.archive.requeueDerivations(.all)
        let again = try #require(try store.archive.claimDerivations())
        try store.archive.completeDerivation(again, processor: "png", .success(.derived([png(4)])))
        #expect(try derivedPNGs(store).map { try Array(Data(contentsOf: $0)) } == [[0x89, 4]])
    }
}
