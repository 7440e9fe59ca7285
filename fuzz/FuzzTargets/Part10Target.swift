import Archive
import DICOM
import Foundation

/// A Part-10 file through every step ingest and WADO take before DCMTK sees it: the header read
/// as ingest reads it, the index attributes, the stored DICOM JSON document, and the frame layout
/// with up to three frames cut out as the frames route does.
enum Part10Target {
    static func run(_ bytes: [UInt8]) -> FuzzOutcome {
        let file: DICOMFile
        do { file = try DICOMReader.read(bytes, options: .headerOnly) } catch { return FuzzOutcome(error) }
        JSONCheck.requireValid(MetadataDocument.encode(file, bulkDataThreshold: 1024))
        let contents = Data(bytes)
        if let frames = try? PixelDataFrames(file: file, contents: contents) {
            for number in 1...max(1, min(frames.count, 3)) { _ = try? frames.frame(number, in: contents) }
        }
        do { _ = try InstanceAttributes(file.dataSet, meta: file.meta) } catch { return FuzzOutcome(error) }
        return .accepted
    }
}
