import DICOM
import Testing

/// Specific Character Set decoding, on pydicom's character set files (their names are known text).
@Suite struct CharacterSetTests {
    @Test(arguments: [
        ("chrFren.dcm", "Buc^Jérôme"),
        ("chrGerm.dcm", "Äneas^Rüdiger"),
        ("chrRuss.dcm", "Люкceмбypг"),
        ("chrGreek.dcm", "Διονυσιος"),
        ("chrArab.dcm", "قباني^لنزار"),
        ("chrHbrw.dcm", "שרון^דבורה"),
        ("chrX1.dcm", "Wang^XiaoDong=王^小東="),
        ("chrH31.dcm", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("chrI2.dcm", "Hong^Gildong=洪^吉洞=홍^길동"),
    ])
    func decodesPatientName(_ file: String, _ expected: String) throws {
        let ds = try DICOMReader.read(contentsOf: PydicomReference.charsetFile(file)).dataSet
        #expect(ds.string(.patientName) == expected)
    }

    @Test func latin1AndUTF8ByTerm() {
        let latin1 = SpecificCharacterSet(terms: ["ISO_IR 100"])
        #expect(latin1.decode([0x4A, 0xE9, 0x72, 0xF4, 0x6D, 0x65]) == "Jérôme")
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        #expect(utf8.decode(Array("Jérôme".utf8)) == "Jérôme")
        // Undeclared 8-bit text: UTF-8 when valid, else Latin-1.
        #expect(SpecificCharacterSet.default.decode(Array("Jérôme".utf8)) == "Jérôme")
        #expect(SpecificCharacterSet.default.decode([0x4A, 0xE9]) == "Jé")
    }

    @Test func sequenceItemsInheritTheCharacterSet() throws {
        var item = DataSet()
        item.set(DataElement(tag: .patientName, vr: .PN, value: .bytes([0x4A, 0xE9, 0x72, 0xF4, 0x6D, 0x65])))
        var ds = DataSet()
        ds.set(.specificCharacterSet, .CS, "ISO_IR 100")
        ds.set(DataElement(tag: Tag(0x0008, 0x1115), items: [item]))
        let read = try DICOMReader.readDataSet(DICOMWriter.encode(ds))
        #expect(read.items(Tag(0x0008, 0x1115))?.first?.string(.patientName) == "Jérôme")
    }
}
