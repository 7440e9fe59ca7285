import Archive
import Classifier
import DICOM
import Foundation
import Imaging

/// The analyses of clinical photos (`PhotoSubmission.Kind`, recognised by Protocol Name): a flush
/// photo is measured against the patient's baseline of the episode; other images are skipped.
/// A flush at or above `mild` publishes an alert on topic `flush` (SSE, MQTT).
struct PhotoDerivation: ImageDerivationProcessor {
    let name = "photo"
    let archive: Archive
    let thresholds: FlushThresholds
    static let flushModel = "flush/erythema-index-v1"
    /// Photos are measured at this size at most: skin colour needs no more pixels.
    static let measuredSize = 512

    /// Stored with a flush finding (`/api/instances/{uid}/analysis`).
    struct FlushDetails: Encodable {
        let score: Double
        let level: FlushLevel
        let thresholds: FlushThresholds
        let photo: SkinRedness
        let baseline: SkinRedness
        let baselineSOPInstanceUID: String
        /// This photo is the baseline (the episode's first, or one marked BASELINE).
        let isBaseline: Bool
        let method: String
    }

    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        switch PhotoSubmission.Kind(protocolName: image.header.string(Tag(0x0018, 0x1030))) {
        case .flush: return try flush(image)
        case .lesion: return .skipped("lesion analysis is not built yet")
        case nil: return .skipped("not a flush or lesion photo")
        }
    }

    private func flush(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let uid = image.input.sopInstanceUID
        let baseline = try Self.baseline(of: uid, header: image.header, series: image.input.seriesInstanceUID, archive: archive)
        let photo: SkinRedness, reference: SkinRedness
        do {
            photo = try SkinRedness(measuring: try Self.measuredView(image.input.fileURL))
            reference = baseline.uid == uid ? photo : try SkinRedness(measuring: try Self.measuredView(baseline.file))
        } catch let error as PhotoAnalysisError {
            // A photo without skin is a result, not a failure: said in the finding, never retried.
            return .found(try finding(label: "unmeasured", reason: error.description, details: ["error": error.description], alert: false))
        } catch {
            throw DerivationFailure("cannot measure the flush photo: \(error)")
        }
        let assessment = FlushAssessment(photo: photo, baseline: reference, thresholds: thresholds)
        let details = FlushDetails(score: assessment.score, level: assessment.level, thresholds: thresholds, photo: photo,
                                   baseline: reference, baselineSOPInstanceUID: baseline.uid, isBaseline: baseline.uid == uid,
                                   method: "mean erythema index 100·log10(R/G) of linear sRGB over the skin (HSV skin model, face region when found), minus the baseline's")
        return .found(try finding(label: assessment.level.rawValue, reason: nil, details: details, alert: assessment.level != .none))
    }

    private func finding(label: String, reason: String?, details: some Encodable, alert: Bool) throws(DerivationFailure) -> Finding {
        do {
            return try Finding(kind: "flush", label: label, probability: nil, reason: reason, model: Self.flushModel, details: details,
                               publishing: alert ? "flush" : nil)
        } catch {
            throw DerivationFailure("cannot encode the flush finding: \(error)")
        }
    }

    /// The photo as measured: rendered by DCMTK (as every viewer sees it), at most 512 pixels.
    static func measuredView(_ file: URL) throws -> RGBImage {
        let rendered = try Renderer.render(file: file, RenderRequest(viewport: (measuredSize, measuredSize), format: .rgb8))
        return RGBImage(columns: rendered.outputColumns, rows: rendered.outputRows, pixels: rendered.bytes)
    }

    /// The baseline of a flush photo, within its series (the patient's flush photos of the day, the
    /// episode): the latest photo marked BASELINE taken at or before it, else the first photo.
    static func baseline(of uid: String, header: DataSet, series: String, archive: Archive) throws(DerivationFailure) -> (uid: String, file: URL) {
        struct Photo { let uid: String; let file: URL; let taken: String; let number: Int; let marked: Bool }
        func photo(_ uid: String, _ file: URL, _ dataSet: DataSet) -> Photo {
            Photo(uid: uid, file: file, taken: dataSet.string(Tag(0x0008, 0x002A)) ?? "", number: dataSet.integer(.instanceNumber) ?? 0,
                  marked: dataSet.strings(.imageType)?.contains("BASELINE") == true)
        }
        let instances: [StoredInstance]
        do {
            instances = try archive.locate(ArchiveQuery(level: .image, keys: [QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .single(series))]))
        } catch {
            throw DerivationFailure("cannot list the photo's series: \(error)")
        }
        let this = photo(uid, URL(fileURLWithPath: "/"), header)
        let photos = instances.compactMap { instance -> Photo? in
            guard let file = try? DICOMReader.read(contentsOf: instance.fileURL, options: .headerOnly) else { return nil }
            return photo(instance.sopInstanceUID, instance.fileURL, file.dataSet)
        }
        func earlier(_ a: Photo, _ b: Photo) -> Bool { (a.taken, a.number, a.uid) < (b.taken, b.number, b.uid) }
        let candidates = photos.filter { $0.uid == uid || !earlier(this, $0) }  // taken at or before this one
        if let marked = candidates.filter(\.marked).max(by: earlier) { return (marked.uid, marked.file) }
        guard let first = photos.min(by: earlier) else { throw DerivationFailure("the photo's series is empty") }
        return (first.uid, first.file)
    }
}
