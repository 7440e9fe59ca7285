import Access
import Archive
import DICOM
import Foundation
import Hummingbird
import Imaging

/// `POST /api/photos`: a clinical photo (flush or lesion) in, a Secondary Capture image archived.
/// The body is multipart/form-data with a part `image` (the JPEG or PNG) and a part `metadata`
/// (JSON, `PhotoSubmission`). Answers 201 with the new instance's UIDs and URL; a photo that is
/// not a readable PNG or JPEG, or metadata that is wrong, gets a 4xx and nothing is stored; so does a
/// photo of a patient the requester is not limited to (403).
extension DICOMwebService {
    func addPhotoRoutes(to router: Router<Context>) {
        router.post("api/photos") { request, context in
            let identity = try context.requester
            guard let contentType = request.headers[.contentType], let range = MediaRange.parse(contentType).first,
                  range.mediaType == "multipart/form-data" else {
                throw WebError.unsupportedMediaType("send the photo as multipart/form-data with parts 'image' (JPEG or PNG) and 'metadata' (JSON)")
            }
            let body = try await request.body.collect(upTo: PhotoCapture.maximumBytes + (1 << 20))
            // A form of an image and its metadata: a few parts at most.
            let parts = try Multipart.requestParts(body, boundary: try Multipart.requiredBoundary(range), maximumParts: 16)
            guard let image = parts.first(where: { $0.formName == "image" }) else { throw WebError.badRequest("the form has no 'image' part") }
            guard let metadata = parts.first(where: { $0.formName == "metadata" }) else {
                throw WebError.badRequest("the form has no 'metadata' part (JSON: PatientID, PatientName, kind, ...)")
            }
            let archive = self.archive
            let result = try await blocking { () throws -> IngestResult in
                let submission: PhotoSubmission
                let pixels: SecondaryCapture.Pixels
                do throws(IngestError) {
                    submission = try PhotoSubmission.decode(json: Data(metadata.body.readableBytesView))
                } catch {
                    throw error.photoHTTPError
                }
                guard identity.mayAccess(patient: submission.patientID) else {
                    throw HTTPError(.forbidden, message: "\(identity.name) may post photos of its own patients only")
                }
                do throws(PhotoDecodingError) { pixels = try PhotoCapture.pixels(Array(buffer: image.body)) } catch { throw error.httpError }
                do throws(IngestError) {
                    return try archive.ingestPhoto(pixels, submission, requester: identity.audit(.store))
                } catch {
                    throw error.photoHTTPError
                }
            }
            let url = publicURL(request).instance(result.studyInstanceUID, result.seriesInstanceUID, result.sopInstanceUID)
            logger.info("photo archived", metadata: ["sop_instance_uid": "\(result.sopInstanceUID)"])
            var response = try jsonResponse(PhotoResponse(result: result, url: url), status: .created)
            response.headers[.location] = url
            return response
        }
    }
}

/// The answer to a photo: the UIDs of the Secondary Capture image made of it, and its WADO-RS URL.
struct PhotoResponse: Encodable {
    let SOPInstanceUID: String
    let SeriesInstanceUID: String
    let StudyInstanceUID: String
    let SOPClassUID: String
    let TransferSyntaxUID: String
    let RetrieveURL: String

    init(result: IngestResult, url: String) {
        SOPInstanceUID = result.sopInstanceUID
        SeriesInstanceUID = result.seriesInstanceUID
        StudyInstanceUID = result.studyInstanceUID
        SOPClassUID = result.sopClassUID
        TransferSyntaxUID = result.transferSyntaxUID
        RetrieveURL = url
    }
}

extension PhotoDecodingError {
    var httpError: HTTPError {
        switch reason {
        case .empty, .corrupt: HTTPError(.badRequest, message: "the image: \(description)")
        case .unsupported: HTTPError(.unsupportedMediaType, message: "the image: \(description) (send a JPEG or PNG)")
        case .tooLarge: HTTPError(.contentTooLarge, message: "the image: \(description)")
        }
    }
}

extension IngestError {
    var photoHTTPError: HTTPError { HTTPError(HTTPResponse.Status(code: httpStatus), message: message) }
}

extension Multipart.Part {
    /// The `name` of a multipart/form-data part (RFC 7578), from its Content-Disposition.
    var formName: String? {
        guard let disposition = headers["content-disposition"] else { return nil }
        for parameter in disposition.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "name" { return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }
}
