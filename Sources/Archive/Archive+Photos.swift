import DICOM
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

extension Archive {
    /// Archives a clinical photo as a Secondary Capture image (PS3.3 A.8) of modality XC
    /// (External-camera Photography): the patient, study and series modules from `submission`,
    /// then ingest as any other instance (so it is queried, retrieved and derived alike).
    ///
    /// Photos of a patient and kind taken on the same (local) day join one series, in the study
    /// named by `studyInstanceUID` or `accessionNumber` (of the same patient) or else the
    /// patient's study of clinical photographs of that day. Photo ingest is serialised (an exclusive
    /// flock on DATA/photos.lock, across processes too), so photos that arrive together join the
    /// same series with their own instance numbers.
    public func ingestPhoto(_ pixels: SecondaryCapture.Pixels, _ submission: PhotoSubmission, requester: AuditRecord? = nil,
                            now: Date = Date(), timeZone: TimeZone = .current) throws(IngestError) -> IngestResult {
        let checked = try submission.checked()
        let acquired = try submission.acquired(now: now)
        let day = Self.dicomDate(acquired, timeZone)
        let placement = try PhotoPlacementLock(configuration.dataDirectory.appendingPathComponent("photos.lock"))
        defer { placement.release() }
        let place = try photoPlace(checked, kind: submission.kind, day: day)
        var dataSet = SecondaryCapture.image(pixels, conversionType: "DI", modality: "XC")
        let names = [checked.patientID, checked.patientName, checked.device ?? "", checked.accessionNumber ?? ""]
        if names.contains(where: { !$0.allSatisfy(\.isASCII) }) { dataSet.set(.specificCharacterSet, .CS, "ISO_IR 192") }
        // Patient
        dataSet.set(.patientName, .PN, checked.patientName)
        dataSet.set(.patientID, .LO, checked.patientID)
        dataSet.set(.patientBirthDate, .DA, checked.birthDate ?? "")
        dataSet.set(.patientSex, .CS, checked.sex ?? "")
        // General Study
        dataSet.set(.studyInstanceUID, .UI, place.studyInstanceUID)
        dataSet.set(.studyDate, .DA, place.studyDate ?? day)
        dataSet.set(.studyTime, .TM, place.studyDate == nil ? Self.dicomTime(acquired, timeZone) : (place.studyTime ?? ""))
        dataSet.set(.referringPhysicianName, .PN, "")
        dataSet.set(.studyID, .SH, place.isNewStudy ? day : (place.studyID ?? ""))
        dataSet.set(.accessionNumber, .SH, checked.accessionNumber ?? place.accessionNumber ?? "")
        if place.isNewStudy { dataSet.set(.studyDescription, .LO, Self.photoStudyDescription) }
        // General Series
        dataSet.set(.seriesInstanceUID, .UI, place.seriesInstanceUID)
        dataSet.set(.seriesNumber, .IS, String(place.seriesNumber))
        dataSet.set(.seriesDate, .DA, day)
        dataSet.set(.seriesDescription, .LO, submission.kind.seriesDescription)
        dataSet.set(.protocolName, .LO, submission.kind.protocolName)
        if let part = checked.bodyPart { dataSet.set(.bodyPartExamined, .CS, part) }
        // Laterality: type 2C, for paired body parts (empty when the side was not said, or when the
        // body part is unknown and so may be paired); absent for an unpaired one.
        let mayBePaired = checked.bodyPart.map(Self.pairedBodyParts.contains) ?? true
        if checked.laterality != nil || mayBePaired { dataSet.set(.laterality, .CS, checked.laterality ?? "") }
        // General Equipment and SC Equipment: the camera, and Loupe that made the object.
        dataSet.set(.manufacturer, .LO, "")
        if let device = checked.device { dataSet.set(.manufacturerModelName, .LO, device) }
        dataSet.set(.secondaryCaptureDeviceManufacturer, .LO, "Loupe")
        dataSet.set(.secondaryCaptureDeviceModelName, .LO, "Loupe")
        // General Image and SC Image
        dataSet.set(.instanceNumber, .IS, String(place.instanceNumber))
        dataSet.set(DataElement(tag: .patientOrientation, vr: .CS, value: .bytes([])))
        dataSet.set(DataElement(tag: .imageType, vr: .CS, strings: ["ORIGINAL", "PRIMARY"] + (submission.baseline ? ["BASELINE"] : [])))
        dataSet.set(.contentDate, .DA, day)
        dataSet.set(.contentTime, .TM, Self.dicomTime(acquired, timeZone))
        dataSet.set(.acquisitionDateTime, .DT, day + Self.dicomTime(acquired, timeZone))
        dataSet.set(.timezoneOffsetFromUTC, .SH, Self.utcOffset(acquired, timeZone))
        dataSet.set(.dateOfSecondaryCapture, .DA, Self.dicomDate(now, timeZone))
        dataSet.set(.timeOfSecondaryCapture, .TM, Self.dicomTime(now, timeZone))
        if let spacing = submission.pixelSpacing {
            let value = SecondaryCapture.decimalString(spacing)
            dataSet.set(DataElement(tag: .nominalScannedPixelSpacing, vr: .DS, strings: [value, value]))
        }
        let bytes: [UInt8]
        do {
            bytes = try DICOMWriter.encodeFile(dataSet, transferSyntax: pixels.transferSyntax)
        } catch {
            throw IngestError(.index, "cannot encode the photo as DICOM: \(error)")
        }
        return try ingest(bytes: Data(bytes), source: IngestSource(origin: "photo", requester: requester))
    }

    static let photoStudyDescription = "Clinical photographs"
    /// Body Part Examined terms of paired structures (PS3.16 Annex L) a skin photo may show.
    static let pairedBodyParts: Set<String> = [
        "ACJOINT", "ADRENAL", "ANKLE", "ARM", "AXILLA", "BREAST", "CALF", "CHEEK", "CLAVICLE", "EAR", "ELBOW", "EXTREMITY",
        "EYE", "FEMUR", "FINGER", "FOOT", "FOREARM", "HAND", "HEEL", "HIP", "HUMERUS", "KIDNEY", "KNEE", "LEG", "LOWER LIMB",
        "LUNG", "ORBIT", "OVARY", "PATELLA", "RADIUS", "RIB", "SCAPULA", "SCJOINT", "SHOULDER", "SJOINT", "TESTIS", "THIGH",
        "THUMB", "TMJ", "TOE", "ULNA", "UPPER ARM", "UPPER LIMB", "WRIST",
    ]

    /// Where a photo goes: its study and series, and its numbers there.
    struct PhotoPlace {
        var studyInstanceUID: String
        var isNewStudy: Bool
        var studyDate: String?
        var studyTime: String?
        var studyID: String?
        var accessionNumber: String?
        var seriesInstanceUID: String
        var seriesNumber: Int
        var instanceNumber: Int
    }

    private func photoPlace(_ photo: PhotoSubmission.Checked, kind: PhotoSubmission.Kind, day: String) throws(IngestError) -> PhotoPlace {
        do {
            return try database.read { db throws -> PhotoPlace in
                // The study: named, by accession number, or the patient's photographs of the day.
                let studyColumns = "SELECT st.id, st.StudyInstanceUID, st.StudyDate, st.StudyTime, st.StudyID, st.AccessionNumber, p.PatientID FROM study st JOIN patient p ON p.id = st.patient_pk"
                let study: Row?
                if let uid = photo.studyInstanceUID {
                    study = try Row.fetchOne(db, sql: "\(studyColumns) WHERE st.StudyInstanceUID = ?", arguments: [uid])
                } else if let accession = photo.accessionNumber {
                    study = try Row.fetchOne(db, sql: "\(studyColumns) WHERE st.AccessionNumber = ? ORDER BY st.id LIMIT 1", arguments: [accession])
                } else {
                    study = try Row.fetchOne(db, sql: """
                        \(studyColumns) WHERE p.PatientID = ? AND st.StudyDate = ? AND st.StudyDescription = ? ORDER BY st.id LIMIT 1
                        """, arguments: [photo.patientID, day, Self.photoStudyDescription])
                }
                if let study, let owner: String = study["PatientID"], owner != photo.patientID {
                    let what = photo.studyInstanceUID.map { "study \($0)" } ?? "accession number \(photo.accessionNumber ?? "")"
                    throw IngestError(.mismatch, "\(what) belongs to another patient (\(owner)), not to \(photo.patientID)")
                }
                guard let study else {
                    return PhotoPlace(studyInstanceUID: photo.studyInstanceUID ?? UID.generate(), isNewStudy: true, studyDate: nil,
                                      studyTime: nil, studyID: nil, accessionNumber: nil, seriesInstanceUID: UID.generate(), seriesNumber: 1,
                                      instanceNumber: 1)
                }
                let studyKey: Int64 = study["id"]
                var place = PhotoPlace(studyInstanceUID: study["StudyInstanceUID"], isNewStudy: false, studyDate: study["StudyDate"],
                                       studyTime: study["StudyTime"], studyID: study["StudyID"], accessionNumber: study["AccessionNumber"],
                                       seriesInstanceUID: UID.generate(), seriesNumber: 1, instanceNumber: 1)
                // The series of this kind and day, else a new one after the study's others.
                if let series = try Row.fetchOne(db, sql: """
                    SELECT SeriesInstanceUID, SeriesNumber, num_instances FROM series
                    WHERE study_pk = ? AND Modality = 'XC' AND SeriesDescription = ? AND SeriesDate = ? ORDER BY id LIMIT 1
                    """, arguments: [studyKey, kind.seriesDescription, day]) {
                    place.seriesInstanceUID = series["SeriesInstanceUID"]
                    place.seriesNumber = series["SeriesNumber"] ?? 1
                    place.instanceNumber = (try Int.fetchOne(db, sql: """
                        SELECT max(InstanceNumber) FROM instance i JOIN series se ON se.id = i.series_pk WHERE se.SeriesInstanceUID = ?
                        """, arguments: [place.seriesInstanceUID]) ?? 0) + 1
                } else {
                    place.seriesNumber = (try Int.fetchOne(db, sql: "SELECT max(SeriesNumber) FROM series WHERE study_pk = ?",
                                                           arguments: [studyKey]) ?? 0) + 1
                }
                return place
            }
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(.index, "cannot look up the photo's study and series: \(error)")
        }
    }

    /// The date as DICOM writes it (YYYYMMDD) in that time zone: the day photos are filed under.
    public static func dicomDate(_ date: Date, _ zone: TimeZone) -> String { format(date, zone, "yyyyMMdd") }
    static func dicomTime(_ date: Date, _ zone: TimeZone) -> String { format(date, zone, "HHmmss") }
    static func utcOffset(_ date: Date, _ zone: TimeZone) -> String {
        let seconds = zone.secondsFromGMT(for: date)
        return String(format: "%@%02d%02d", seconds < 0 ? "-" : "+", abs(seconds) / 3600, abs(seconds) % 3600 / 60)
    }

    private static func format(_ date: Date, _ zone: TimeZone, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = zone
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }
}

/// An exclusive flock held while a photo's series is looked up and the photo joins it.
struct PhotoPlacementLock {
    private let descriptor: Int32

    init(_ url: URL) throws(IngestError) {
        descriptor = open(url.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw IngestError(.storage, "cannot open \(url.path): \(String(cString: strerror(errno)))") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw IngestError(.storage, "cannot lock \(url.path): \(reason)")
            }
        }
    }

    func release() { close(descriptor) }  // closing releases the lock
}
