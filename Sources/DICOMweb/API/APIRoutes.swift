import Access
import Archive
import DICOM
import Foundation
import Hummingbird

/// Loupe's own JSON: `/api/stats`, `/api/patients/{id}`, `/api/patients/{id}/counts`.
extension DICOMwebService {
    func addAPIRoutes(to router: Router<Context>) {
        router.get("api/stats") { _, _ in
            let archive = self.archive
            let stats = try await blocking { () throws -> ArchiveStatistics in
                do throws(QueryError) { return try archive.statistics() } catch { throw error.httpError }
            }
            return try jsonResponse(stats)
        }
        router.get("api/patients/:id") { _, context in
            let identity = try context.requester
            let id = try context.parameters.decoded("id")
            let found = try await patients(id)
            let archive = self.archive
            var query = ArchiveQuery(level: .study, keys: [
                QueryKey(tag: .patientID, vr: .LO, constraint: .single(id)), QueryKey(tag: .studyInstanceUID, vr: .UI, constraint: .universal),
                QueryKey(tag: .studyDate, vr: .DA, constraint: .universal), QueryKey(tag: .studyDescription, vr: .LO, constraint: .universal),
                QueryKey(tag: .accessionNumber, vr: .SH, constraint: .universal), QueryKey(tag: .modalitiesInStudy, vr: .CS, constraint: .universal),
                QueryKey(tag: .numberOfStudyRelatedSeries, vr: .IS, constraint: .universal),
                QueryKey(tag: .numberOfStudyRelatedInstances, vr: .IS, constraint: .universal),
            ])
            // Identities that read clinical photographs only see only the studies that hold some,
            // and a patient without any does not exist for them.
            let photosOnly = identity.searchesPhotosOnly
            if photosOnly { try PatientPrivacy.restrictToPhotographs(&query) }
            let studies = try await blocking { [query] () throws -> [DataSet] in
                do throws(QueryError) { return try archive.find(query) } catch { throw error.httpError }
            }.map(StudySummary.init)
            if photosOnly && studies.isEmpty { throw WebError.notFound("no patient with PatientID \(id)") }
            let counts = photosOnly ? PatientCounts(studies) : PatientCounts(found)
            return try jsonResponse(PatientDetail(patients: found, studies: studies, counts: counts, identified: identity.may(.phi)))
        }
        router.get("api/patients/:id/counts") { _, context in
            let id = try context.parameters.decoded("id")
            let found = try await patients(id)
            guard try context.requester.searchesPhotosOnly else { return try jsonResponse(PatientCounts(found)) }
            var query = ArchiveQuery(level: .study, keys: [
                QueryKey(tag: .patientID, vr: .LO, constraint: .single(id)),
                QueryKey(tag: .numberOfStudyRelatedSeries, vr: .IS, constraint: .universal),
                QueryKey(tag: .numberOfStudyRelatedInstances, vr: .IS, constraint: .universal),
            ])
            try PatientPrivacy.restrictToPhotographs(&query)
            let archive = self.archive
            let studies = try await blocking { [query] () throws -> [DataSet] in
                do throws(QueryError) { return try archive.find(query) } catch { throw error.httpError }
            }.map(StudySummary.init)
            guard !studies.isEmpty else { throw WebError.notFound("no patient with PatientID \(id)") }
            return try jsonResponse(PatientCounts(studies))
        }
    }

    /// A patient with its studies (keys are DICOM keywords); name and birth date only when
    /// `identified` (the requester has `phi`).
    struct PatientDetail: Encodable, Sendable {
        let patients: [PatientSummary]
        let studies: [StudySummary]
        let counts: PatientCounts
        let identified: Bool

        enum CodingKeys: String, CodingKey {
            case patientID = "PatientID", patientName = "PatientName", patientBirthDate = "PatientBirthDate"
            case patientSex = "PatientSex", issuers = "IssuersOfPatientID", studies = "Studies"
            case studyCount = "NumberOfPatientRelatedStudies", seriesCount = "NumberOfPatientRelatedSeries"
            case instanceCount = "NumberOfPatientRelatedInstances"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(patients[0].patientID, forKey: .patientID)
            if identified {
                try c.encodeIfPresent(patients.compactMap(\.patientName).first, forKey: .patientName)
                try c.encodeIfPresent(patients.compactMap(\.patientBirthDate).first, forKey: .patientBirthDate)
            }
            try c.encodeIfPresent(patients.compactMap(\.patientSex).first, forKey: .patientSex)
            try c.encode(patients.map(\.issuerOfPatientID), forKey: .issuers)
            try c.encode(counts.studies, forKey: .studyCount)
            try c.encode(counts.series, forKey: .seriesCount)
            try c.encode(counts.instances, forKey: .instanceCount)
            try c.encode(studies, forKey: .studies)
        }
    }

    struct StudySummary: Encodable, Sendable {
        let StudyInstanceUID: String?
        let StudyDate: String?
        let StudyDescription: String?
        let AccessionNumber: String?
        let ModalitiesInStudy: [String]
        let NumberOfStudyRelatedSeries: Int?
        let NumberOfStudyRelatedInstances: Int?

        init(_ ds: DataSet) {
            StudyInstanceUID = ds.string(.studyInstanceUID)
            StudyDate = ds.string(.studyDate)
            StudyDescription = ds.string(.studyDescription)
            AccessionNumber = ds.string(.accessionNumber)
            ModalitiesInStudy = ds.strings(.modalitiesInStudy) ?? []
            NumberOfStudyRelatedSeries = ds.integer(.numberOfStudyRelatedSeries)
            NumberOfStudyRelatedInstances = ds.integer(.numberOfStudyRelatedInstances)
        }
    }

    struct PatientCounts: Codable, Sendable {
        let studies: Int
        let series: Int
        let instances: Int

        /// All the patient's records (one per issuer of its ID).
        init(_ patients: [PatientSummary]) {
            studies = patients.reduce(0) { $0 + $1.studies }
            series = patients.reduce(0) { $0 + $1.series }
            instances = patients.reduce(0) { $0 + $1.instances }
        }

        /// Only these studies (what an identity limited to clinical photographs may see).
        init(_ shown: [StudySummary]) {
            studies = shown.count
            series = shown.reduce(0) { $0 + ($1.NumberOfStudyRelatedSeries ?? 0) }
            instances = shown.reduce(0) { $0 + ($1.NumberOfStudyRelatedInstances ?? 0) }
        }
    }

    private func patients(_ id: String) async throws -> [PatientSummary] {
        let archive = self.archive
        let found = try await blocking { () throws -> [PatientSummary] in
            do throws(QueryError) { return try archive.patients(id: id) } catch { throw error.httpError }
        }
        guard !found.isEmpty else { throw WebError.notFound("no patient with PatientID \(id)") }
        return found
    }

    /// Loupe's own JSON: never kept in a browser's cache (a ward kiosk's disk would hold patient data).
    func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
