import DICOM
import Foundation
import Testing

@Suite struct WriterTests {
    static func sample() -> DataSet {
        var item = DataSet()
        item.set(Tag(0x0008, 0x1150), .UI, "1.2.840.10008.5.1.4.1.1.2")
        var ds = DataSet()
        ds.set(.sopClassUID, .UI, "1.2.840.10008.5.1.4.1.1.2")
        ds.set(.sopInstanceUID, .UI, UID.generate())
        ds.set(.patientName, .PN, "Müller^Jörg")
        ds.set(.specificCharacterSet, .CS, "ISO_IR 192")
        ds.set(DataElement(tag: .rows, uint16: [4]))
        ds.set(DataElement(tag: Tag(0x0008, 0x1140), items: [item, DataSet()]))
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes([1, 0, 2, 0, 3, 0, 4, 0])))
        return ds
    }

    @Test(arguments: [TransferSyntax.explicitVRLittleEndian, .implicitVRLittleEndian, .deflatedExplicitVRLittleEndian])
    func roundTrips(_ syntax: TransferSyntax) throws {
        let ds = Self.sample()
        let file = try DICOMReader.read(DICOMWriter.encodeFile(ds, transferSyntax: syntax))
        #expect(file.isPart10)
        #expect(file.transferSyntax.uid == syntax.uid)
        #expect(file.dataSet.string(.patientName) == "Müller^Jörg")
        #expect(file.dataSet.integer(.rows) == 4)
        #expect(file.dataSet.items(Tag(0x0008, 0x1140))?.count == 2)
        #expect(file.dataSet[.pixelData]?.bytes == [1, 0, 2, 0, 3, 0, 4, 0])
        #expect(file.meta.string(.mediaStorageSOPInstanceUID) == ds.string(.sopInstanceUID))
    }

    @Test func dcmtkReadsWhatLoupeWrites() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("writer-\(UUID().uuidString).dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(DICOMWriter.encodeFile(Self.sample())).write(to: url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dcmdump")
        process.arguments = ["+E", "-q", url.path]  // +E: print errors, exit non-zero on any
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("Müller^Jörg"))
    }

    @Test func uidsAreValidAndUnique() {
        let a = UID.generate(), b = UID.generate()
        #expect(a != b)
        #expect(UID.isValid(a))
        #expect(a.hasPrefix("2.25."))
        #expect(!UID.isValid("1.2.03"))
        #expect(!UID.isValid("1.2.a"))
        #expect(!UID.isValid(""))
        #expect(!UID.isValid(String(repeating: "1.", count: 40) + "1"))
    }

    @Test func dictionaryFromDCMTK() {
        let dictionary = DataDictionary.shared
        #expect(dictionary.isLoaded)
        #expect(dictionary.tag(forKeywordOrHex: "PatientName") == .patientName)
        #expect(dictionary.tag(forKeywordOrHex: "0020000D") == .studyInstanceUID)
        #expect(dictionary.vr(for: .studyDate) == .DA)
        #expect(dictionary.keyword(for: Tag(0x6002, 0x3000)) == "OverlayData")
        #expect(dictionary.vr(for: Tag(0x0029, 0x0010)) == .LO)  // private creator
        #expect(dictionary.vr(for: Tag(0x0029, 0x1010)) == .UN)
        #expect(dictionary.isUnsignedOrSigned(Tag(0x0028, 0x0106)))
    }
}
