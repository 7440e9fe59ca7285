import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

@Suite struct IngestTests {
    @Test func storesFileAndIndexesIt() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        let result = try store.store(instance.bytes)
        #expect(result.outcome == .stored)
        #expect(result.sopInstanceUID == instance.sopUID)
        let files = store.storedFiles()
        #expect(files.count == 1)
        // Stored exactly as received.
        #expect(try Array(Data(contentsOf: files[0])) == instance.bytes)
        #expect(store.stagedFiles().isEmpty)
        let located = try store.archive.instance(sopInstanceUID: instance.sopUID)
        #expect(located?.fileURL.standardizedFileURL == files[0].standardizedFileURL)
        #expect(located?.transferSyntaxUID == TransferSyntax.explicitVRLittleEndian.uid)
    }

    @Test func duplicateIsKeptByDefault() throws {
        let store = try TemporaryArchive()
        var instance = Instance()
        try store.store(instance.bytes)
        instance.patientName = "CHANGED^NAME"
        let again = try store.store(instance.bytes)
        #expect(again.outcome == .duplicate)
        #expect(store.storedFiles().count == 1)
        let names = try store.archive.find(.keys(.image, [(.sopInstanceUID, instance.sopUID), (.patientName, "")]))
        #expect(names.map { $0.string(.patientName) } == ["DOE^JOHN"])
    }

    @Test func duplicateReplacesWhenConfigured() throws {
        let store = try TemporaryArchive(policy: .replace)
        var instance = Instance()
        try store.store(instance.bytes)
        instance.seriesUID = UID.generate()  // the new copy moves to another series
        instance.instanceNumber = 7
        let again = try store.store(instance.bytes)
        #expect(again.outcome == .replaced)
        #expect(store.storedFiles().count == 1)
        let series = try store.archive.find(.keys(.series, [(.studyInstanceUID, instance.studyUID), (.seriesInstanceUID, ""),
                                                           (.numberOfSeriesRelatedInstances, "")]))
        // The emptied series is gone; the study keeps one series with one instance.
        #expect(series.map { $0.string(.seriesInstanceUID) } == [instance.seriesUID])
        #expect(series.first?.integer(.numberOfSeriesRelatedInstances) == 1)
        let stored = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID))
        #expect(try Array(Data(contentsOf: stored.fileURL)) == instance.bytes)
    }

    @Test(arguments: [
        (Tag.sopInstanceUID, IngestError.Reason.missingAttribute),
        (Tag.studyInstanceUID, .missingAttribute),
        (Tag.seriesInstanceUID, .missingAttribute),
    ])
    func refusesInstancesWithoutRequiredUIDs(_ tag: Tag, _ reason: IngestError.Reason) throws {
        let store = try TemporaryArchive()
        var ds = Instance().dataSet
        ds.remove(tag)
        var thrown: IngestError?
        do { try store.store(DICOMWriter.encodeFile(ds)) } catch let error as IngestError { thrown = error }
        #expect(thrown?.reason == reason)
        #expect(thrown?.dimseStatus == .cannotUnderstand)
        #expect(store.storedFiles().isEmpty)
        #expect(store.stagedFiles().isEmpty)
    }

    /// Letters, more than 64 characters, and empty components (which would make `.` or `..` of a
    /// study's directory) are refused; nothing is stored.
    @Test(arguments: ["1.2.abc", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "1." + String(repeating: "2", count: 70),
                      "..", ".", "1.2..3", ".1.2", "1.2."])
    func refusesInvalidUIDs(_ uid: String) throws {
        let store = try TemporaryArchive()
        var instance = Instance()
        instance.studyUID = uid
        var thrown: IngestError?
        do { try store.store(instance.bytes) } catch let error as IngestError { thrown = error }
        #expect(thrown?.reason == .invalidUID)
        #expect(thrown?.dimseStatus == .cannotUnderstand)
        #expect(store.storedFiles().isEmpty)
    }

    /// A Number of Frames beyond any integer is stored as unknown; reading it ended the process before.
    @Test func aNumberOfFramesBeyondIntIsStoredAsUnknown() throws {
        let store = try TemporaryArchive()
        var ds = Instance().dataSet
        ds.set(.numberOfFrames, .IS, "1e300")
        #expect(try store.store(DICOMWriter.encodeFile(ds)).outcome == .stored)
    }

    /// What devices send although the standard forbids it, harmless to store and serve.
    @Test(arguments: ["1.2.03.4", String(repeating: "1", count: 64)])
    func acceptsUIDsWithLeadingZerosAndWithoutDots(_ uid: String) throws {
        let store = try TemporaryArchive()
        var instance = Instance()
        instance.studyUID = uid
        #expect(try store.store(instance.bytes).outcome == .stored)
        #expect(try store.archive.instance(sopInstanceUID: instance.sopUID)?.fileURL.deletingLastPathComponent().lastPathComponent == uid)
    }

    @Test func refusesWhatIsNotDICOM() throws {
        let store = try TemporaryArchive()
        for bytes in [Array("hello, this is a text file, not an image".utf8), [], Array(repeating: 0xFF, count: 300)] {
            var thrown: IngestError?
            do { try store.store(bytes) } catch let error as IngestError { thrown = error }
            #expect(thrown?.reason == .notDICOM)
        }
        // A file cut short is refused too, never half-indexed.
        let truncated = Array(Instance().bytes.dropLast(3))
        var thrown: IngestError?
        do { try store.store(truncated) } catch let error as IngestError { thrown = error }
        #expect(thrown?.reason == .notDICOM)
        #expect(store.storedFiles().isEmpty)
        #expect(try store.archive.find(.keys(.image, [(.sopInstanceUID, "")])).isEmpty)
    }

    @Test func aDICOMDIRIsNotAnInstance() throws {
        let store = try TemporaryArchive()
        var directory = DataSet()
        directory.set(Tag(0x0004, 0x1130), .CS, "CD")  // File-set ID
        let bytes = try DICOMWriter.filePrefix(sopClassUID: "1.2.840.10008.1.3.10", sopInstanceUID: UID.generate(),
                                               transferSyntax: .explicitVRLittleEndian) + DICOMWriter.encode(directory)
        var thrown: IngestError?
        do { try store.store(bytes) } catch let error as IngestError { thrown = error }
        #expect(thrown?.reason == .mediaDirectory)
        #expect(store.storedFiles().isEmpty)
    }

    @Test func checksTheIdentityAnnouncedByTheRequest() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        let staged = store.archive.stagingURL(prefix: "test")
        try Data(instance.bytes).write(to: staged)
        var thrown: IngestError?
        do {
            _ = try store.archive.ingest(staged: staged, source: IngestSource(origin: "T"),
                                         expected: ExpectedIdentity(sopClassUID: instance.sopClass, sopInstanceUID: "1.2.3"))
        } catch { thrown = error }
        #expect(thrown?.reason == .mismatch)
        #expect(thrown?.dimseStatus == .dataSetDoesNotMatchSOPClass)
    }

    @Test func dataSetWithoutFileMetaIsArchivedAsPart10() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        let bare = try DICOMWriter.encode(instance.dataSet, transferSyntax: .implicitVRLittleEndian)
        try store.store(bare)
        let stored = try #require(try store.archive.instance(sopInstanceUID: instance.sopUID))
        let file = try DICOMReader.read(contentsOf: stored.fileURL)
        #expect(file.isPart10)
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.meta.string(.mediaStorageSOPInstanceUID) == instance.sopUID)
        // The data set bytes are unchanged behind the new header.
        let data = try Data(contentsOf: stored.fileURL)
        #expect(Array(data[file.dataSetOffset...]) == bare)
    }

    @Test func removesStagedLeftoversOnOpenAndKeepsDataAcrossRestarts() throws {
        let store = try TemporaryArchive()
        let instance = Instance()
        try store.store(instance.bytes)
        let leftover = store.archive.stagingURL(prefix: "crash")
        try Data([1, 2, 3]).write(to: leftover)
        try store.reopen()
        #expect(!FileManager.default.fileExists(atPath: leftover.path))
        #expect(try store.archive.instance(sopInstanceUID: instance.sopUID) != nil)
        #expect(try store.archive.appliedMigrations() == ["v1: patient, study, series, instance", "v2: derivation jobs and derived files",
                                                               "v3: registered derivation processors", "v4: embeddings", "v5: findings and events",
                                                               "v6: accounts, tokens, sessions, audit trail", "v7: finding reviews",
                                                               "v8: files to remove", "v9: normalized person names and times"])
    }

    @Test func concurrentArrivalsOfOneInstanceIndexItOnce() async throws {
        let store = try TemporaryArchive()
        let archive = store.archive
        let bytes = Instance().bytes
        let outcomes = try await withThrowingTaskGroup(of: IngestOutcome.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let staged = archive.stagingURL(prefix: "race\(i)")
                    try Data(bytes).write(to: staged)
                    return try archive.ingest(staged: staged, source: IngestSource(origin: "T")).outcome
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .stored }.count == 1)
        #expect(outcomes.filter { $0 == .duplicate }.count == 7)
        #expect(store.storedFiles().count == 1)
        #expect(try archive.find(.keys(.image, [(.sopInstanceUID, "")])).count == 1)
    }

    @Test func concurrentArrivalsOfANewStudyCreateItOnceAndCountEveryInstance() async throws {
        let store = try TemporaryArchive()
        let archive = store.archive
        let first = Instance(patientID: "RACE")
        // Sixteen instances in two series of one study, all new to the archive, arriving at once.
        let instances = (0..<16).map { i in
            var instance = first
            instance.sopUID = UID.generate()
            instance.instanceNumber = i + 1
            if i % 2 == 1 { instance.seriesUID = first.studyUID + ".2" }
            return instance
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, instance) in instances.enumerated() {
                group.addTask {
                    let staged = archive.stagingURL(prefix: "study-race\(i)")
                    try Data(instance.bytes).write(to: staged)
                    _ = try archive.ingest(staged: staged, source: IngestSource(origin: "T"))
                }
            }
            try await group.waitForAll()
        }
        let patients = try archive.find(.keys(.patient, [(.patientID, "RACE"), (.numberOfPatientRelatedStudies, ""),
                                                         (.numberOfPatientRelatedSeries, ""), (.numberOfPatientRelatedInstances, "")]))
        #expect(patients.count == 1)
        #expect(patients.first?.integer(.numberOfPatientRelatedStudies) == 1)
        #expect(patients.first?.integer(.numberOfPatientRelatedSeries) == 2)
        #expect(patients.first?.integer(.numberOfPatientRelatedInstances) == 16)
        let series = try archive.find(.keys(.series, [(.studyInstanceUID, first.studyUID), (.seriesInstanceUID, ""),
                                                      (.numberOfSeriesRelatedInstances, "")]))
        #expect(series.compactMap { $0.integer(.numberOfSeriesRelatedInstances) } == [8, 8])
    }

    @Test func storesTheMetadataDocumentWithBulkDataReferences() throws {
        let store = try TemporaryArchive()
        var ds = Instance().dataSet
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes(Array(repeating: 7, count: 4096))))
        try store.store(DICOMWriter.encodeFile(ds))
        let json = try #require(try store.archive.metadata(sopInstanceUID: ds.string(.sopInstanceUID)!))
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect((object["00100010"] as? [String: Any])?["Value"] as? [[String: String]] == [["Alphabetic": "DOE^JOHN"]])
        #expect((object["7FE00010"] as? [String: Any])?["BulkDataURI"] as? String == MetadataDocument.bulkDataScheme + "7FE00010")
    }
}
