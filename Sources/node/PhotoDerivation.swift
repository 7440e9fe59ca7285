import Archive
import Classifier
import DICOM
import Foundation
import Imaging

/// The analyses of clinical photos (`PhotoSubmission.Kind`, recognised by Protocol Name): a flush
/// photo is measured against the patient's baseline of the episode, a lesion photo gets its ABCD
/// features and dermoscopy score; other images are skipped. A flush at or above `mild` publishes
/// an alert on topic `flush` (SSE, MQTT).
struct PhotoDerivation: ImageDerivationProcessor {
    let name = "photo"
    let archive: Archive
    let thresholds: FlushThresholds
    static let flushModel = "flush/erythema-index-v1"
    static let lesionModel = "lesion/abcd-rule-v1"
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
        /// Baseline photos passed over because they show no skin.
        let unmeasurableBaselines: [String]
        let method: String
    }

    func derive(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        switch PhotoSubmission.Kind(protocolName: image.header.string(.protocolName)) {
        case .flush: return try flush(image)
        case .lesion: return try lesion(image)
        case nil: return .skipped("not a flush or lesion photo")
        }
    }

    private func flush(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let uid = image.input.sopInstanceUID
        let photo: SkinRedness
        do {
            photo = try SkinRedness(measuring: try Self.measuredView(image.input.fileURL, columns: image.input.columns, rows: image.input.rows).rgbImage)
        } catch let error as PhotoAnalysisError {
            return .found(try finding(.flush, unmeasured: error.description, details: ["error": error.description]))
        } catch {
            throw DerivationFailure("cannot measure the flush photo: \(error)")
        }
        // The first baseline candidate that can be measured (a baseline without skin is passed over).
        var baseline: (uid: String, redness: SkinRedness)?
        var passedOver: [String] = []
        for candidate in try Self.baselineCandidates(of: uid, header: image.header, series: image.input.seriesInstanceUID, archive: archive) {
            if candidate.uid == uid {
                baseline = (uid, photo)
                break
            }
            do {
                baseline = (candidate.uid, try SkinRedness(measuring: try Self.measuredView(candidate.file, columns: candidate.columns, rows: candidate.rows).rgbImage))
                break
            } catch is PhotoAnalysisError {
                passedOver.append(candidate.uid)
            } catch {
                throw DerivationFailure("cannot measure the baseline photo \(candidate.uid): \(error)")
            }
        }
        let reference = baseline ?? (uid, photo)
        let assessment = FlushAssessment(photo: photo, baseline: reference.redness, thresholds: thresholds)
        let details = FlushDetails(score: assessment.score, level: assessment.level, thresholds: thresholds, photo: photo,
                                   baseline: reference.redness, baselineSOPInstanceUID: reference.uid, isBaseline: reference.uid == uid,
                                   unmeasurableBaselines: passedOver,
                                   method: "mean erythema index 100·log10(R/G) of linear sRGB over the skin (HSV skin model, face region when found), minus the baseline's")
        return .found(try finding(.flush, label: assessment.level.rawValue, details: details, alert: assessment.level != .none))
    }

    /// Stored with a lesion finding: the assessment, and where to find similar lesions.
    struct LesionDetails: Encodable {
        let assessment: LesionAssessment
        let similar: String
        enum CodingKeys: CodingKey { case similar }
        func encode(to encoder: any Encoder) throws {
            try assessment.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(similar, forKey: .similar)
        }
    }

    private func lesion(_ image: ImageContext) throws(DerivationFailure) -> DerivationOutcome {
        let similar = "/api/similar?instance=\(image.input.sopInstanceUID)&kind=lesion"
        let assessment: LesionAssessment
        do {
            let view = try Self.measuredView(image.input.fileURL, columns: image.input.columns, rows: image.input.rows)
            // Sizes are given in the stored photo's pixels (the view may be smaller), and in mm by its
            // Nominal Scanned Pixel Spacing.
            assessment = try LesionAssessment(view.rgbImage, photoPixelsPerPixel: Double(view.columns) / Double(max(1, view.outputColumns)),
                                              millimetresPerPixel: image.header.doubles(.nominalScannedPixelSpacing)?.first)
        } catch let error as PhotoAnalysisError {
            return .found(try finding(.lesion, unmeasured: error.description, details: ["error": error.description, "similar": similar]))
        } catch {
            throw DerivationFailure("cannot assess the lesion photo: \(error)")
        }
        return .found(try finding(.lesion, label: assessment.risk, details: LesionDetails(assessment: assessment, similar: similar), alert: false))
    }

    /// A photo finding (`kind` flush or lesion); `alert`: published on the kind's topic.
    private func finding(_ kind: PhotoSubmission.Kind, label: String, reason: String? = nil, details: some Encodable,
                         alert: Bool) throws(DerivationFailure) -> Finding {
        do {
            return try Finding(kind: kind.rawValue, label: label, probability: nil, reason: reason,
                               model: kind == .flush ? Self.flushModel : Self.lesionModel, details: details,
                               publishing: alert ? kind.rawValue : nil)
        } catch {
            throw DerivationFailure("cannot encode the \(kind.rawValue) finding: \(error)")
        }
    }

    /// A photo that shows nothing to measure: a result, said in the finding and never retried.
    private func finding(_ kind: PhotoSubmission.Kind, unmeasured reason: String, details: [String: String]) throws(DerivationFailure) -> Finding {
        try finding(kind, label: "unmeasured", reason: reason, details: details, alert: false)
    }

    /// The photo as measured: rendered by DCMTK (as every viewer sees it), at most 512 pixels a side
    /// (never enlarged).
    static func measuredView(_ file: URL, columns: Int?, rows: Int?) throws -> RenderedImage {
        let viewport = (min(measuredSize, columns ?? measuredSize), min(measuredSize, rows ?? measuredSize))
        return try Renderer.render(file: file, RenderRequest(viewport: viewport, format: .rgb8))
    }

    /// The baselines of a flush photo, best first, within its series (the patient's flush photos of
    /// the day, the episode): the latest photo marked BASELINE taken at or before it, then the photos
    /// in the order they were taken, up to this one.
    static func baselineCandidates(of uid: String, header: DataSet, series: String, archive: Archive) throws(DerivationFailure) -> [Baseline] {
        struct Photo { let uid: String; let file: URL; let taken: String; let number: Int; let marked: Bool; let size: (Int?, Int?) }
        func photo(_ uid: String, _ file: URL, _ dataSet: DataSet) -> Photo {
            Photo(uid: uid, file: file, taken: dataSet.string(.acquisitionDateTime) ?? "", number: dataSet.integer(.instanceNumber) ?? 0,
                  marked: dataSet.strings(.imageType)?.contains("BASELINE") == true, size: (dataSet.integer(.columns), dataSet.integer(.rows)))
        }
        let instances: [StoredInstance]
        do {
            instances = try archive.locate(ArchiveQuery(level: .image, keys: [QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .single(series))]))
        } catch {
            throw DerivationFailure("cannot list the photo's series: \(error)")
        }
        let this = photo(uid, URL(fileURLWithPath: "/"), header)
        func earlier(_ a: Photo, _ b: Photo) -> Bool { (a.taken, a.number, a.uid) < (b.taken, b.number, b.uid) }
        let photos = instances.compactMap { instance -> Photo? in
            guard let file = try? DICOMReader.read(contentsOf: instance.fileURL, options: .headerOnly) else { return nil }
            return photo(instance.sopInstanceUID, instance.fileURL, file.dataSet)
        }.filter { $0.uid == uid || !earlier(this, $0) }.sorted(by: earlier)  // taken at or before this one
        let ordered = photos.filter(\.marked).suffix(1) + photos
        var seen = Set<String>()
        return ordered.filter { seen.insert($0.uid).inserted }.map { Baseline(uid: $0.uid, file: $0.file, columns: $0.size.0, rows: $0.size.1) }
    }

    struct Baseline {
        let uid: String
        let file: URL
        let columns: Int?
        let rows: Int?
    }
}
