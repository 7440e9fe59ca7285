import Archive
import DICOM
import DICOMweb
import Hummingbird
import LoupeTestSupport

/// A QIDO-RS query string at study, series and instance level, parsed as the search route parses
/// it and run (with its count) against an archive of a few instances. A refusal must be a 4xx:
/// a query the SQL layer cannot run is a 500 the client did not cause.
enum QIDOTarget {
    private static let archive: TemporaryArchive = {
        let archive = try! TemporaryArchive()
        let study = UID.generate()
        for (number, name) in ["DOE^JOHN", "Müller^Jürgen", "山田^太郎=ヤマダ^タロウ"].enumerated() {
            try! archive.store(Instance(patientID: "P\(number)", patientName: name, studyUID: study, instanceNumber: number,
                                        characterSet: number == 0 ? nil : "ISO_IR 192").bytes)
        }
        return archive
    }()

    static func run(_ bytes: [UInt8]) -> FuzzOutcome {
        let parameters = RequestQuery(String(decoding: bytes, as: UTF8.self))
        var outcome = FuzzOutcome.accepted
        for level in [QueryLevel.study, .series, .image] {
            do {
                let request = try QIDORequest(level: level, parameters: parameters, caseInsensitiveNames: true)
                _ = try archive.archive.find(request.query)
                if request.isPaged { _ = try archive.archive.count(request.query) }
            } catch let error as HTTPError {
                precondition(error.status.code < 500, "QIDO answered \(error.status.code): \(error)")
                outcome = FuzzOutcome(error)
            } catch let error as QueryError {
                precondition(error.httpStatus < 500, "QIDO answered \(error.httpStatus): \(error.message)")
                outcome = FuzzOutcome(error)
            } catch {
                preconditionFailure("QIDO threw \(type(of: error)): \(error)")
            }
        }
        return outcome
    }
}
