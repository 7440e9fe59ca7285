import Access
import Archive
import Foundation
import Hummingbird

/// What Loupe derived from instances: `/api/instances/{uid}/analysis` (job states and derived
/// files), `/api/imageinfo/{name}` (a derived PNG's context) and `/api/derived/{name}` (the file).
extension DICOMwebService {
    func addDerivationRoutes(to router: Router<Context>) {
        router.get("api/instances/:uid/analysis") { _, context in
            let uid = try context.parameters.require("uid")
            let archive = self.archive
            let found = try await blocking { () throws -> (jobs: [DerivationStatus], files: [DerivedFileRecord], findings: [StoredFinding])? in
                do throws(DerivationError) { return try archive.derivations(sopInstanceUID: uid) } catch {
                    throw WebError.internalError(error.description)
                }
            }
            guard let found else { throw WebError.notFound("no instance with SOP Instance UID \(uid)") }
            return try jsonResponse(Analysis(
                SOPInstanceUID: uid, derivations: found.jobs,
                derived: try found.files.map { DerivedSummary(kind: $0.kind, name: $0.name, url: "/api/derived/\($0.name)",
                                                             parameters: try parameters($0), created: $0.createdAt) },
                findings: try found.findings.map { stored in
                    let f = stored.finding
                    return FindingSummary(kind: f.kind, label: f.label, probability: f.probability, reason: f.reason, model: f.model,
                                          details: try JSONValue.object(parsing: f.details, what: "the details of the \(f.kind) finding"),
                                          created: stored.createdAt)
                }))
        }
        router.get("api/imageinfo/:name") { _, context in
            let record = try await derivedFile(try context.parameters.require("name"), for: try context.requester)
            let p = try parameters(record)
            return try jsonResponse(ImageInfo(
                PatientID: record.patientID, StudyInstanceUID: record.studyInstanceUID, StudyDescription: record.studyDescription,
                SeriesInstanceUID: record.seriesInstanceUID, SeriesDescription: record.seriesDescription,
                SOPInstanceUID: record.sopInstanceUID, InstanceNumber: record.instanceNumber,
                WindowCenter: p["windowCenter"]?.number, WindowWidth: p["windowWidth"]?.number,
                VOILUTFunction: p["voiLUTFunction"]?.text, VOISource: p["voi"]?.text,
                RescaleSlope: p["rescaleSlope"]?.number, RescaleIntercept: p["rescaleIntercept"]?.number,
                Frame: p["frame"]?.number.map(Int.init)))
        }
        router.get("api/derived/:name") { _, context in
            let record = try await derivedFile(try context.parameters.require("name"), for: try context.requester)
            let bytes = try await blocking { () throws -> Data in
                do { return try Data(contentsOf: record.fileURL) } catch {
                    throw WebError.notFound("\(record.name) is indexed but its file is missing; `loupe reprocess --instance \(record.sopInstanceUID)` derives it again")
                }
            }
            return Response(status: .ok, headers: [.contentType: record.name.hasSuffix(".png") ? "image/png" : "application/octet-stream"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// A derived file the requester may see (of one of its patients, when it is limited to some).
    private func derivedFile(_ name: String, for identity: Identity) async throws -> DerivedFileRecord {
        let archive = self.archive
        let record = try await blocking { () throws -> DerivedFileRecord? in
            do throws(DerivationError) { return try archive.derivedFile(name: name) } catch {
                throw WebError.internalError(error.description)
            }
        }
        guard let record, identity.mayAccess(patient: record.patientID) else { throw WebError.notFound("no derived file named \(name)") }
        if identity.readsPhotosOnly {
            let modality = try await blocking { try archive.modality(ofInstance: record.sopInstanceUID) }
            guard let modality, Archive.clinicalPhotographModalities.contains(modality) else {
                throw HTTPError(.forbidden, message: "\(identity.name) may read clinical photographs only")
            }
        }
        return record
    }

    private func parameters(_ record: DerivedFileRecord) throws -> [String: JSONValue] {
        try JSONValue.object(parsing: record.parameters, what: "the parameters recorded with \(record.name)")
    }

    struct Analysis: Encodable {
        let SOPInstanceUID: String
        let derivations: [DerivationStatus]
        let derived: [DerivedSummary]
        let findings: [FindingSummary]
    }

    /// What a model concluded (e.g. kind `anomaly`: label `invalid`, reason `overlay`).
    struct FindingSummary: Encodable {
        let kind: String
        let label: String
        let probability: Double?
        let reason: String?
        let model: String
        let details: [String: JSONValue]
        let created: String
    }

    struct DerivedSummary: Encodable {
        let kind: String
        let name: String
        let url: String
        let parameters: [String: JSONValue]
        let created: String
    }

    /// Keys are DICOM keywords where there is one.
    struct ImageInfo: Encodable {
        let PatientID: String
        let StudyInstanceUID: String
        let StudyDescription: String?
        let SeriesInstanceUID: String
        let SeriesDescription: String?
        let SOPInstanceUID: String
        let InstanceNumber: Int?
        let WindowCenter: Double?
        let WindowWidth: Double?
        let VOILUTFunction: String?
        let VOISource: String?
        let RescaleSlope: Double?
        let RescaleIntercept: Double?
        let Frame: Int?
    }
}
