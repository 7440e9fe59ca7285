import Access
import Archive
import DICOM
import Foundation
import Hummingbird

/// STOW-RS (PS3.18 10.5): multipart/related `application/dicom` parts, each archived on its own,
/// answered with a data set of ReferencedSOPSequence and FailedSOPSequence.
extension DICOMwebService {
    func addStoreRoutes(to group: RouterGroup<Context>) {
        group.post("studies") { request, context in
            try await store(request, study: nil, identity: try context.requester)
        }
        group.post("studies/:study") { request, context in
            try await store(request, study: try context.parameters.require("study"), identity: try context.requester)
        }
    }

    private static let referencedSOPSequence = DICOM.Tag(0x0008, 0x1199)
    private static let failedSOPSequence = DICOM.Tag(0x0008, 0x1198)
    private static let referencedSOPClassUID = DICOM.Tag(0x0008, 0x1150)
    private static let referencedSOPInstanceUID = DICOM.Tag(0x0008, 0x1155)
    private static let failureReason = DICOM.Tag(0x0008, 0x1197)
    private static let retrieveURL = DICOM.Tag(0x0008, 0x1190)

    func store(_ request: Request, study: String?, identity: Identity) async throws -> Response {
        guard let contentType = request.headers[.contentType],
              let range = MediaRange.parse(contentType).first, range.mediaType == "multipart/related" else {
            throw WebError.unsupportedMediaType("STOW-RS takes multipart/related; type=\"application/dicom\"")
        }
        if let type = range.partType, type != "application/dicom" {
            throw WebError.unsupportedMediaType("STOW-RS here takes application/dicom parts, not \(type)")
        }
        let boundary = try Multipart.requiredBoundary(range)
        let body = try await request.body.collect(upTo: configuration.maxUploadBytes)
        let parts = try Multipart.requestParts(body, boundary: boundary, maximumParts: configuration.maxParts)
        guard !parts.isEmpty else { throw WebError.badRequest("the request has no parts") }

        let archive = self.archive
        let urls = publicURL(request)
        let outcomes = try await blocking { () -> [StoreOutcome] in
            parts.map { part in Self.storePart(part, study: study, identity: identity, archive: archive) }
        }
        if outcomes.allSatisfy({ $0.failureReason == DIMSEStatus.notAuthorized.rawValue }) {
            throw HTTPError(.forbidden, message: "\(identity.name) may store instances of its own patients only; nothing was stored")
        }
        var referenced: [DataSet] = []
        var failed: [DataSet] = []
        for outcome in outcomes {
            var item = DataSet()
            item.set(Self.referencedSOPClassUID, .UI, outcome.sopClassUID ?? "")
            item.set(Self.referencedSOPInstanceUID, .UI, outcome.sopInstanceUID ?? "")
            if let result = outcome.result {
                item.set(Self.retrieveURL, .UR, urls.instance(result.studyInstanceUID, result.seriesInstanceUID, result.sopInstanceUID))
                referenced.append(item)
            } else {
                item.set(DataElement(tag: Self.failureReason, uint16: [outcome.failureReason]))
                failed.append(item)
                logger.warning("STOW-RS part refused", metadata: ["reason": "\(outcome.message ?? "")"])
            }
        }
        var response = DataSet()
        let studies = Set(outcomes.compactMap { $0.result?.studyInstanceUID })
        if studies.count == 1, let only = studies.first { response.set(Self.retrieveURL, .UR, urls.study(only)) }
        if !referenced.isEmpty { response.set(DataElement(tag: Self.referencedSOPSequence, items: referenced)) }
        if !failed.isEmpty { response.set(DataElement(tag: Self.failedSOPSequence, items: failed)) }
        // Nothing stored for want of space is 507, so a client tells a full archive from refused instances.
        let outOfStorage = outcomes.allSatisfy { $0.failureReason == DIMSEStatus.outOfResources.rawValue }
        let status: HTTPResponse.Status = failed.isEmpty ? .ok
            : !referenced.isEmpty ? .accepted : outOfStorage ? HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage") : .conflict
        return Response(status: status, headers: [.contentType: "application/dicom+json"],
                        body: .init(byteBuffer: ByteBuffer(string: DICOMJSONEncoder().encode(response))))
    }

    struct StoreOutcome: Sendable {
        var sopClassUID: String?
        var sopInstanceUID: String?
        var result: IngestResult?
        var failureReason: UInt16 = 0
        var message: String?
    }

    /// One part: checked (media type, study of the path, the requester's patients), then archived;
    /// a bad part fails alone.
    static func storePart(_ part: Multipart.Part, study: String?, identity: Identity, archive: Archive) -> StoreOutcome {
        var outcome = StoreOutcome()
        if let type = part.contentType.flatMap({ MediaRange.parse($0).first?.mediaType }), type != "application/dicom" {
            outcome.failureReason = DIMSEStatus.sopClassNotSupported.rawValue
            outcome.message = "a part of type \(type)"
            return outcome
        }
        let bytes = Data(part.body.readableBytesView)
        let header = try? DICOMReader.read(bytes, options: archive.configuration.arrivalReadOptions)
        if identity.patients != nil {
            // The instance's patient, and the patient of the study it would join and of the instance
            // it would replace, must all be the requester's.
            let study = header?.dataSet.string(.studyInstanceUID), sop = header?.sopInstanceUID
            let owners = [study.flatMap { try? archive.patientID(ofStudy: $0) }, sop.flatMap { try? archive.patientID(ofInstance: $0) }]
            if !identity.mayAccess(patient: header?.dataSet.string(.patientID)) || owners.contains(where: { $0.map { !identity.mayAccess(patient: $0) } ?? false }) {
                outcome.sopClassUID = header?.sopClassUID
                outcome.sopInstanceUID = sop
                outcome.failureReason = DIMSEStatus.notAuthorized.rawValue
                outcome.message = "an instance, study or patient that \(identity.name) is not limited to"
                return outcome
            }
        }
        if let header {
            outcome.sopClassUID = header.sopClassUID
            outcome.sopInstanceUID = header.sopInstanceUID
            if let study, let own = header.dataSet.string(.studyInstanceUID), own != study {
                outcome.failureReason = DIMSEStatus.dataSetDoesNotMatchSOPClass.rawValue
                outcome.message = "instance of study \(own) posted to study \(study)"
                return outcome
            }
        }
        do {
            outcome.result = try archive.ingest(bytes: bytes, source: IngestSource(origin: "STOW-RS", requester: identity.audit(.store)))
        } catch {
            outcome.failureReason = error.dimseStatus.rawValue
            outcome.message = error.description
        }
        return outcome
    }
}
