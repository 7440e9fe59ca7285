import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

/// Queries over a small archive of two patients, three studies, four series.
@Suite struct QueryTests {
    let store: TemporaryArchive
    let doe1 = Instance(patientID: "P1", patientName: "DOE^JOHN", studyDate: "20230115", studyTime: "101500",
                        accession: "A1", studyDescription: "CHEST", modality: "CT")
    var doe2: Instance
    var doe3: Instance
    var muller: Instance

    init() throws {
        store = try TemporaryArchive()
        doe2 = doe1
        doe2.sopUID = UID.generate()
        doe2.instanceNumber = 2
        doe3 = doe1
        doe3.sopUID = UID.generate()
        doe3.seriesUID = UID.generate()
        doe3.modality = "MR"
        doe3.seriesNumber = 2
        muller = Instance(patientID: "P2", patientName: "Müller^Jörg", birthDate: "19801224", sex: "F",
                          studyDate: "20221231", studyTime: "2359", accession: "B7", studyDescription: "KNEE [L]",
                          referring: "Wilson^James", modality: "MR", characterSet: "ISO_IR 192")
        for instance in [doe1, doe2, doe3, muller] { try store.store(instance.bytes) }
        var other = Instance(patientID: "P1", studyDate: "20240301", accession: "A2", studyDescription: "HEAD")
        other.modality = "CR"
        try store.store(other.bytes)
    }

    func studies(_ pairs: [(Tag, String)], fuzzy: Bool = false) throws -> [String] {
        try store.archive.find(.keys(.study, [(.studyInstanceUID, "")] + pairs, fuzzy: fuzzy))
            .compactMap { $0.string(.accessionNumber) ?? $0.string(.studyInstanceUID) }.sorted()
    }

    @Test func patientLevelWithCounts() throws {
        let patients = try store.archive.find(.keys(.patient, [(.patientID, ""), (.patientName, ""),
                                                               (.numberOfPatientRelatedStudies, ""),
                                                               (.numberOfPatientRelatedInstances, "")]))
        let byID = Dictionary(uniqueKeysWithValues: patients.map { ($0.string(.patientID)!, $0) })
        #expect(byID["P1"]?.integer(.numberOfPatientRelatedStudies) == 2)
        #expect(byID["P1"]?.integer(.numberOfPatientRelatedInstances) == 4)
        #expect(byID["P2"]?.string(.patientName) == "Müller^Jörg")
    }

    @Test func studyLevelCountsAndModalities() throws {
        let result = try store.archive.find(.keys(.study, [(.accessionNumber, "A1"), (.modalitiesInStudy, ""),
                                                           (.numberOfStudyRelatedSeries, ""),
                                                           (.numberOfStudyRelatedInstances, ""), (.patientName, "")]))
        #expect(result.count == 1)
        #expect(result[0].strings(.modalitiesInStudy) == ["CT", "MR"])
        #expect(result[0].integer(.numberOfStudyRelatedSeries) == 2)
        #expect(result[0].integer(.numberOfStudyRelatedInstances) == 3)
        // Patient attributes are returned at study level (Study Root).
        #expect(result[0].string(.patientName) == "DOE^JOHN")
    }

    @Test func matchingRules() throws {
        #expect(try studies([(.accessionNumber, ""), (.patientName, "DOE*")]) == ["A1", "A2"])
        #expect(try studies([(.accessionNumber, ""), (.patientName, "doe*")]) == [])
        #expect(try studies([(.accessionNumber, ""), (.patientName, "doe*")], fuzzy: true) == ["A1", "A2"])
        #expect(try studies([(.accessionNumber, ""), (.patientName, "muller*")], fuzzy: true) == ["B7"])
        #expect(try studies([(.accessionNumber, ""), (.patientName, "?OE^JOHN")]) == ["A1", "A2"])
        #expect(try studies([(.accessionNumber, ""), (.studyDate, "20230101-20230131")]) == ["A1"])
        #expect(try studies([(.accessionNumber, ""), (.studyDate, "-20221231")]) == ["B7"])
        #expect(try studies([(.accessionNumber, ""), (.studyDate, "20240101-")]) == ["A2"])
        #expect(try studies([(.accessionNumber, ""), (.studyTime, "2300-")]) == ["B7"])
        #expect(try studies([(.accessionNumber, ""), (.modalitiesInStudy, "MR")]) == ["A1", "B7"])
        #expect(try studies([(.accessionNumber, ""), (.modalitiesInStudy, "CR\\CT")]) == ["A1", "A2"])
        #expect(try studies([(.accessionNumber, "A1\\B7")]) == ["A1", "B7"])
        #expect(try studies([(.accessionNumber, ""), (.studyInstanceUID, "\(doe1.studyUID)\\\(muller.studyUID)")]) == ["A1", "B7"])
        // A literal bracket is not a GLOB character class.
        #expect(try studies([(.accessionNumber, ""), (.studyDescription, "KNEE [L]")]) == ["B7"])
        #expect(try studies([(.accessionNumber, ""), (.studyDescription, "KNEE [*")]) == ["B7"])
    }

    @Test func longUIDListsMatch() throws {
        let decoys = (0..<3000).map { _ in UID.generate() }
        let list = (decoys + [doe1.studyUID, muller.studyUID]).joined(separator: "\\")
        #expect(try studies([(.accessionNumber, ""), (.studyInstanceUID, list)]) == ["A1", "B7"])
        #expect(try store.archive.locate(.keys(.study, [(.studyInstanceUID, list)])).count == 4)
    }

    @Test func trailingEmptyNameComponentsAreInsignificant() throws {
        #expect(try studies([(.accessionNumber, ""), (.patientName, "DOE^JOHN^^")]) == ["A1", "A2"])
        #expect(try studies([(.accessionNumber, ""), (.patientName, "DOE^JOHN^^^=")], fuzzy: true) == ["A1", "A2"])
    }

    @Test func keysOutsideTheIndexAreMatchedAndReturnedFromTheFiles() throws {
        let protocolName = Tag(0x0018, 0x1030)
        let series = try store.archive.find(.keys(.series, [(.seriesInstanceUID, ""), (protocolName, "Protocol MR")]))
        #expect(Set(series.compactMap { $0.string(.seriesInstanceUID) }) == [doe3.seriesUID, muller.seriesUID])
        #expect(series.allSatisfy { $0.string(protocolName) == "Protocol MR" })
    }

    @Test func imageLevelInSeriesOrder() throws {
        let images = try store.archive.find(.keys(.image, [(.seriesInstanceUID, doe1.seriesUID), (.sopInstanceUID, ""),
                                                           (.instanceNumber, ""), (.rows, "")]))
        #expect(images.map { $0.integer(.instanceNumber) } == [1, 2])
        #expect(images.allSatisfy { $0.integer(.rows) == 2 })
    }

    @Test func pagingAndCount() throws {
        var query = ArchiveQuery.keys(.image, [(.sopInstanceUID, "")])
        #expect(try store.archive.count(query) == 5)
        query.limit = 2
        query.offset = 4
        #expect(try store.archive.find(query).count == 1)
        query.offset = 0
        #expect(try store.archive.find(query).count == 2)
    }

    @Test func lowerLevelKeysAreIgnoredAtHigherLevels() throws {
        let result = try store.archive.find(.keys(.study, [(.accessionNumber, "A1"), (.sopInstanceUID, "1.2.3")]))
        #expect(result.count == 1)
        #expect(result[0][.sopInstanceUID] == nil)
    }

    @Test func locateForRetrieve() throws {
        let study = try store.archive.locate(.keys(.study, [(.studyInstanceUID, doe1.studyUID)]))
        #expect(Set(study.map(\.sopInstanceUID)) == [doe1.sopUID, doe2.sopUID, doe3.sopUID])
        #expect(study.allSatisfy { FileManager.default.fileExists(atPath: $0.fileURL.path) })
        var thrown: QueryError?
        do { _ = try store.archive.locate(.keys(.study, [(.studyInstanceUID, "*")])) } catch { thrown = error }
        #expect(thrown?.reason == .invalidQuery)
    }

    @Test func dataSurvivesRestart() throws {
        try store.reopen()
        #expect(try store.archive.count(.keys(.study, [(.studyInstanceUID, "")])) == 3)
        #expect(try studies([(.accessionNumber, ""), (.patientName, "DOE*")]) == ["A1", "A2"])
    }
}
