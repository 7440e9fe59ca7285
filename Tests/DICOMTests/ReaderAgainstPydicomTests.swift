import DICOM
import Foundation
import Testing

/// The reader against pydicom on every file pydicom ships: same transfer syntax, same top-level
/// elements, same decoded text (character sets included), same sequence item and fragment counts.
@Suite struct ReaderAgainstPydicomTests {
    /// Files the two readers legitimately disagree on, and why.
    static let expectedDifferences: [String: String] = [
        "MR_truncated.dcm": "Pixel Data ends early: Loupe refuses a truncated file, pydicom reads what is there",
        "rtplan_truncated.dcm": "the last element ends early: Loupe refuses a truncated file",
        "no_meta.dcm": "starts with a stray byte before its first element: not a DICOM stream Loupe accepts",
    ]

    static var files: [PydicomReference.File] {
        PydicomReference.shared.files.filter { expectedDifferences[$0.name] == nil }
    }

    @Test(arguments: files.map(\.name))
    func matchesPydicom(_ name: String) throws {
        let reference = try #require(PydicomReference.shared.file(name))
        let file = try DICOMReader.read(contentsOf: URL(fileURLWithPath: reference.path))
        if let syntax = reference.transfer_syntax {
            #expect(file.transferSyntax.uid == syntax)
        }
        #expect(file.dataSet.tags.map(\.hex) == reference.tags)
        for (hex, expected) in reference.strings {
            let tag = try #require(Tag(hex: hex))
            let element = try #require(file.dataSet[tag])
            let actual = file.dataSet.strings(tag)?.joined(separator: "\\")
            #expect(Self.normalized(actual, element.vr) == Self.normalized(expected, element.vr), "\(name) \(tag)")
        }
        for (hex, count) in reference.sequences {
            #expect(file.dataSet.items(try #require(Tag(hex: hex)))?.count == count, "\(name) \(hex)")
        }
        if let fragments = reference.fragments, case .fragments(_, let actual)? = file.dataSet[.pixelData]?.value {
            #expect(actual.count == fragments)
        }
    }

    /// Spaces around values are insignificant (PS3.5 6.2) and pydicom keeps some; it also drops
    /// empty trailing person name groups.
    static func normalized(_ text: String?, _ vr: VR) -> String? {
        guard let text else { return nil }
        var values = vr.isSingleValuedText ? [text] : text.split(separator: "\\", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
        if vr == .PN {
            values = values.map { var v = $0; while v.hasSuffix("=") { v.removeLast() }; return v }
        }
        return values.joined(separator: "\\")
    }

    @Test(arguments: expectedDifferences.keys.sorted())
    func refusesBrokenFiles(_ name: String) {
        var thrown: Error?
        do { _ = try DICOMReader.read(contentsOf: PydicomReference.testFile(name)) } catch { thrown = error }
        #expect(thrown is DICOMError, "\(name) was read although it is broken")
    }

    @Test func headerOnlyPathStopsBeforePixelDataAndChecksTheRest() throws {
        let url = PydicomReference.testFile("CT_small.dcm")
        let file = try DICOMReader.read(contentsOf: url, options: .headerOnly)
        #expect(file.dataSet[.pixelData] == nil)
        #expect(file.dataSet.string(.patientName) == "CompressedSamples^CT1")
        #expect(file.skippedElements.first?.tag == .pixelData)
        #expect(file.stoppedAtOffset != nil)
        // The same check refuses a file whose pixel data is cut short.
        var thrown: Error?
        do {
            _ = try DICOMReader.read(contentsOf: PydicomReference.testFile("MR_truncated.dcm"), options: .headerOnly)
        } catch { thrown = error }
        #expect(thrown is DICOMError)
    }
}
