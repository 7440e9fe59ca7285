import DICOM
import Foundation
import Imaging
import LoupeTestSupport

extension FuzzTarget {
    /// Inputs the fuzzer starts from, made here; `make fuzz` adds pydicom's test files and pictures
    /// (bench/fuzz/corpus.py).
    public var seeds: [[UInt8]] {
        let instance = Instance(patientName: "Müller^Jürgen", characterSet: "ISO_IR 192")
        switch self {
        case .part10:
            return [instance.bytes, try! DICOMWriter.encodeFile(instance.dataSet, transferSyntax: .deflatedExplicitVRLittleEndian)]
        case .dicomJSON:
            var nested = instance.dataSet
            nested.set(DataElement(tag: Tag(0x0040, 0x0275), items: [Instance().dataSet, DataSet()]))
            return [try! DICOMWriter.encode(instance.dataSet), try! DICOMWriter.encode(nested)]
        case .multipart:
            let body = Array("--B\r\nContent-Type: application/dicom\r\n\r\n".utf8) + instance.bytes
                + Array("\r\n--B\r\nContent-Type: application/dicom\r\n\r\n\r\n--B--\r\n".utf8)
            return [Array("multipart/related; type=\"application/dicom\"; boundary=B\n".utf8) + body]
        case .qido:
            return ["PatientName=m*&limit=2&offset=1&includefield=all",
                    "StudyDate=20230101-20231231&ModalitiesInStudy=CT,MR&fuzzymatching=true",
                    "00100020=P?&loupe-orderby=-StudyDate&loupe-anomaly=invalid",
                    "loupe-patient=jur&includefield=00081030,PatientBirthDate&SeriesNumber=1"].map { Array($0.utf8) }
        case .jpeg:
            return [Self.rendered(instance, .jpeg(quality: 90))]
        case .photo:
            return [Self.rendered(instance, .png), Self.rendered(instance, .jpeg(quality: 90))]
        case .jwt:
            return JWTTarget.seeds()
        }
    }

    /// The instance as DCMTK renders it (the derived PNG, a JPEG thumbnail): small pictures to start from.
    private static func rendered(_ instance: Instance, _ format: ImageFormat) -> [UInt8] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-fuzz-seed-\(UUID().uuidString).dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try! Data(instance.bytes).write(to: url)
        return try! Renderer.render(file: url, RenderRequest(viewport: (width: 32, height: 32), format: format)).bytes
    }

    /// Writes every target's seeds to `root/<target>/seed-<n>`.
    public static func writeSeeds(to root: URL) throws {
        for target in allCases {
            let directory = root.appendingPathComponent(target.rawValue)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (number, seed) in target.seeds.enumerated() {
                try Data(seed).write(to: directory.appendingPathComponent("seed-\(number)"))
            }
        }
    }
}
