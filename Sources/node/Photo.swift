import ArgumentParser
import Archive
import DICOM
import Foundation
import Imaging
import Logging

/// `loupe photo FILE --patient-id … --patient-name … --kind flush|lesion`: archives a clinical
/// photo (JPEG or PNG) as a Secondary Capture image, as `POST /api/photos` does.
struct Photo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Archive a flush or lesion photo (JPEG or PNG) as a DICOM Secondary Capture image.")

    @OptionGroup var options: CommonOptions

    @Argument(help: "The photo: a JPEG or PNG file.")
    var file: String

    @Option(help: "Patient ID.")
    var patientId: String

    @Option(help: "Patient's name (DICOM PN: Family^Given).")
    var patientName: String

    @Option(help: "flush (face photo of the flush watch) or lesion (skin lesion).")
    var kind: String

    @Option(help: "Patient's birth date (YYYYMMDD or YYYY-MM-DD).")
    var birthDate: String?

    @Option(help: "Patient's sex (M, F or O).")
    var sex: String?

    @Option(help: "Body site (at most 16 characters; stored as Body Part Examined).")
    var bodySite: String?

    @Option(help: "The camera (Manufacturer's Model Name).")
    var device: String?

    @Option(help: "Attach to the study of this accession number.")
    var accession: String?

    @Option(help: "Attach to this study.")
    var studyUid: String?

    @Option(help: "When the photo was taken (ISO 8601). Default: now.")
    var acquired: String?

    @Flag(help: "A baseline flush photo: later photos of the patient are compared with it.")
    var baseline = false

    @Option(help: "Millimetres per pixel, when the photo has a scale.")
    var pixelSpacing: Double?

    func run() throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        guard let kind = PhotoSubmission.Kind(rawValue: kind) else { throw ValidationError("--kind must be flush or lesion, not '\(kind)'") }
        let submission = PhotoSubmission(patientID: patientId, patientName: patientName, kind: kind, birthDate: birthDate, sex: sex,
                                         bodySite: bodySite, device: device, accessionNumber: accession, studyInstanceUID: studyUid,
                                         acquisitionDateTime: acquired, baseline: baseline, pixelSpacing: pixelSpacing)
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) } catch { throw ValidationError("cannot read \(file): \(error.localizedDescription)") }
        let pixels = try PhotoCapture.pixels(bytes)
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let result = try archive.ingestPhoto(pixels, submission)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode([
            "SOPInstanceUID": result.sopInstanceUID, "SeriesInstanceUID": result.seriesInstanceUID,
            "StudyInstanceUID": result.studyInstanceUID, "TransferSyntaxUID": result.transferSyntaxUID,
        ]), as: UTF8.self))
    }
}
