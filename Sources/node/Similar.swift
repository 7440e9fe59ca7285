import ArgumentParser
import Archive
import DICOMweb
import Foundation
import Logging

/// `loupe similar FILE`: the archived instances most like an image (DICOM, PNG or JPEG), as
/// `POST /api/similar` answers, from the data directory (the saved index, brought up to date).
struct Similar: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find archived instances similar to an image (DICOM, PNG or JPEG).")

    @OptionGroup var options: CommonOptions

    @Argument(help: "The image: a DICOM file, PNG or JPEG.")
    var file: String

    @Option(name: .short, help: "How many results.")
    var k = 10

    @Option(name: .long, help: "Only instances of this modality.")
    var modality: String?

    @Option(name: .long, help: "Only instances of this Patient ID.")
    var patient: String?

    func run() throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        let embedder = try Models.embedder(weights: config.modelWeights).get()
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let search = try SimilaritySearch(archive: archive, embedder: embedder, configuration: config.similarity(model: embedder.modelID),
                                          logger: Logger(label: "loupe.similarity"))
        let filter = SimilarityFilter(archive: EmbeddingFilter(modality: modality, patientID: patient))
        let matches: [SimilarityMatch]
        do {
            matches = try search.similar(toFileAt: URL(fileURLWithPath: file), k: k, filter: filter)
        } catch {
            throw ValidationError(error.description)
        }
        let root = config.web.baseURL ?? "http://\(config.web.host):\(config.web.port)\(DICOMwebConfiguration.rootPath)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let response = SimilarResponse(model: embedder.modelID, query: nil, matches: matches, root: root)
        print(String(decoding: try encoder.encode(response), as: UTF8.self))
    }
}
