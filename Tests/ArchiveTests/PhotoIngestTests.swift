@testable import Archive
import DICOM
import Foundation
import LoupeTestSupport
import Testing

@Suite struct PhotoIngestTests {
    static let pixels = SecondaryCapture.Pixels.rgb(columns: 4, rows: 2, pixels: (0..<24).map { UInt8($0 * 10) })
    static let zone = TimeZone(identifier: "Europe/Berlin")!
    /// 2026-11-23 10:00 in Berlin.
    static let morning = Date(timeIntervalSince1970: 1_795_424_400)

    static func photo(_ kind: PhotoSubmission.Kind = .flush, patient: String = "P7", accession: String? = nil, study: String? = nil,
                      baseline: Bool = false) -> PhotoSubmission {
        PhotoSubmission(patientID: patient, patientName: "Doe^Jane", kind: kind, birthDate: "1970-02-03", sex: "f", bodySite: "left-forearm",
                        device: "Bedside cam 2", accessionNumber: accession, studyInstanceUID: study, baseline: baseline, pixelSpacing: 0.1)
    }

    static func stored(_ store: TemporaryArchive, _ result: IngestResult) throws -> DataSet {
        let instance = try #require(try store.archive.instance(sopInstanceUID: result.sopInstanceUID))
        return try DICOMReader.read(contentsOf: instance.fileURL).dataSet
    }

    @Test func photosOfAPatientKindAndDayShareASeries() throws {
        let store = try TemporaryArchive()
        let archive = store.archive
        let first = try archive.ingestPhoto(Self.pixels, Self.photo(baseline: true), now: Self.morning, timeZone: Self.zone)
        let second = try archive.ingestPhoto(Self.pixels, Self.photo(), now: Self.morning + 600, timeZone: Self.zone)
        let lesion = try archive.ingestPhoto(Self.pixels, Self.photo(.lesion), now: Self.morning + 900, timeZone: Self.zone)
        let tomorrow = try archive.ingestPhoto(Self.pixels, Self.photo(), now: Self.morning + 86_400, timeZone: Self.zone)
        let otherPatient = try archive.ingestPhoto(Self.pixels, Self.photo(patient: "P8"), now: Self.morning, timeZone: Self.zone)

        #expect(first.seriesInstanceUID == second.seriesInstanceUID && first.studyInstanceUID == second.studyInstanceUID)
        #expect(lesion.studyInstanceUID == first.studyInstanceUID && lesion.seriesInstanceUID != first.seriesInstanceUID)
        #expect(tomorrow.studyInstanceUID != first.studyInstanceUID)
        #expect(otherPatient.studyInstanceUID != first.studyInstanceUID)

        let a = try Self.stored(store, first), b = try Self.stored(store, second), c = try Self.stored(store, lesion)
        #expect(a.string(.sopClassUID) == SecondaryCapture.sopClassUID && a.string(.modality) == "XC")
        #expect(a.string(.conversionType) == "DI")
        #expect(a.string(.patientID) == "P7" && a.string(.patientName) == "Doe^Jane")
        #expect(a.string(.patientBirthDate) == "19700203" && a.string(.patientSex) == "F")
        #expect(a.string(.studyDate) == "20261123" && a.string(.studyTime) == "100000" && a.string(.studyDescription) == "Clinical photographs")
        #expect(a.string(.seriesDate) == "20261123" && a.string(.seriesDescription) == "Flush photos")
        #expect(PhotoSubmission.Kind(protocolName: a.string(.protocolName)) == .flush)
        #expect(PhotoSubmission.Kind(protocolName: c.string(.protocolName)) == .lesion)
        #expect(a.string(.bodyPartExamined) == "FOREARM" && a.string(.laterality) == "L" && a.string(.manufacturerModelName) == "Bedside cam 2")
        #expect(a.string(.timezoneOffsetFromUTC) == "+0100" && a.string(.acquisitionDateTime) == "20261123100000")
        #expect(a.strings(.imageType) == ["ORIGINAL", "PRIMARY", "BASELINE"] && b.strings(.imageType) == ["ORIGINAL", "PRIMARY"])
        #expect(a.strings(.nominalScannedPixelSpacing) == ["0.1", "0.1"])
        #expect(a.integer(.seriesNumber) == 1 && c.integer(.seriesNumber) == 2)
        #expect(a.integer(.instanceNumber) == 1 && b.integer(.instanceNumber) == 2 && c.integer(.instanceNumber) == 1)
        #expect(a.string(.photometricInterpretation) == "RGB" && a[.pixelData]?.bytes == (0..<24).map { UInt8($0 * 10) })
        // b's acquisition: ten minutes later.
        #expect(b.string(.contentTime) == "101000")
    }

    @Test func attachesToANamedStudyOrAccessionOfTheSamePatientOnly() throws {
        let store = try TemporaryArchive()
        let archive = store.archive
        let byAccession = try archive.ingestPhoto(Self.pixels, Self.photo(accession: "ACC42"), now: Self.morning, timeZone: Self.zone)
        let again = try archive.ingestPhoto(Self.pixels, Self.photo(.lesion, accession: "ACC42"), now: Self.morning + 86_400, timeZone: Self.zone)
        #expect(again.studyInstanceUID == byAccession.studyInstanceUID && again.seriesInstanceUID != byAccession.seriesInstanceUID)
        #expect(try Self.stored(store, again).string(.accessionNumber) == "ACC42")

        let named = try archive.ingestPhoto(Self.pixels, Self.photo(study: "1.2.3.4.5"), now: Self.morning, timeZone: Self.zone)
        #expect(named.studyInstanceUID == "1.2.3.4.5")

        let before = store.storedFiles().count
        for submission in [Self.photo(patient: "P8", accession: "ACC42"), Self.photo(patient: "P8", study: "1.2.3.4.5")] {
            #expect(throws: IngestError.self) { try archive.ingestPhoto(Self.pixels, submission) }
            do { _ = try archive.ingestPhoto(Self.pixels, submission) } catch { #expect(error.reason == .mismatch && error.httpStatus == 409) }
        }
        #expect(store.storedFiles().count == before && store.stagedFiles().isEmpty)
    }

    @Test func metadataIsCheckedBeforeAnythingIsStored() throws {
        func reason(_ json: String) -> IngestError.Reason? {
            do {
                let submission = try PhotoSubmission.decode(json: Data(json.utf8))
                _ = try submission.checked()
                _ = try submission.acquired(now: Date())
                return nil
            } catch { return error.reason }
        }
        let good = #"{"PatientID": "P1", "PatientName": "Doe^Jane", "kind": "flush""#
        #expect(reason(good + "}") == nil)
        #expect(reason(good + #", "AcquisitionDateTime": "2026-11-23T10:15:00+01:00", "BirthDate": "19700203", "Sex": "M"}"#) == nil)
        #expect(reason(#"{"PatientName": "Doe^Jane", "kind": "flush"}"#) == .missingAttribute)
        #expect(reason(#"{"PatientID": " ", "PatientName": "Doe^Jane", "kind": "flush"}"#) == .missingAttribute)
        #expect(reason(#"{"PatientID": "P1", "PatientName": "Doe^Jane", "kind": "selfie"}"#) == .invalidAttribute)
        #expect(reason("not json") == .invalidAttribute)
        #expect(reason(good + #", "BirthDate": "3 Feb 1970"}"#) == .invalidAttribute)
        #expect(reason(good + #", "Sex": "X"}"#) == .invalidAttribute)
        #expect(reason(good + #", "StudyInstanceUID": "1.2.abc"}"#) == .invalidUID)
        #expect(reason(good + #", "BodySite": "the whole of the left forearm"}"#) == .invalidAttribute)
        #expect(reason(#"{"PatientID": "P\\1", "PatientName": "Doe^Jane", "kind": "flush"}"#) == .invalidAttribute)
        #expect(reason(good + #", "AcquisitionDateTime": "yesterday"}"#) == .invalidAttribute)
        #expect(reason(good + #", "PixelSpacing": -1}"#) == .invalidAttribute)
        #expect(reason(good + #", "Baseline": "yes"}"#) == .invalidAttribute)
        #expect(reason(good + #", "BirthDate": "2020-13-45"}"#) == .invalidAttribute)
        #expect(reason(good + #", "BirthDate": "1899-12-31"}"#) == .invalidAttribute)
        #expect(reason(good + #", "AcquisitionDateTime": "9999-12-31T23:30:00Z"}"#) == .invalidAttribute)
        #expect(reason(#"{"PatientID": "P1", "PatientName": "\#(String(repeating: "A", count: 65))", "kind": "flush"}"#) == .invalidAttribute)
        #expect(reason(#"{"PatientID": "P1", "PatientName": "Doe^Jane=ドウ^ジェーン", "kind": "flush"}"#) == nil)
        #expect(reason(#"{"PatientID": "P\u007f1", "PatientName": "Doe^Jane", "kind": "flush"}"#) == .invalidAttribute)
        // Length in characters, not grapheme clusters: one letter with 70 combining accents is too long.
        #expect(reason(#"{"PatientID": "e\#(String(repeating: "\u{301}", count: 70))", "PatientName": "Doe^Jane", "kind": "flush"}"#) == .invalidAttribute)
    }
}
