import DICOM
import Foundation
import Testing

/// DICOM JSON (PS3.18 F.2) against pydicom's `to_json_dict` of the same files.
@Suite struct DICOMJSONTests {
    static let encoder = DICOMJSONEncoder(bulkDataThreshold: 1024) { _ in "bulk" }

    @Test(arguments: ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "rtplan.dcm",
                      "rtstruct.dcm", "test-SR.dcm", "JPEG2000.dcm", "image_dfl.dcm", "waveform_ecg.dcm"])
    func matchesPydicom(_ name: String) throws {
        let url = PydicomReference.testFile(name)
        let ours = try parse(Self.encoder.encode(DICOMReader.read(contentsOf: url).dataSet))
        let theirs = try PydicomReference.json(of: url)
        try compare(ours, theirs, path: name)
    }

    @Test(arguments: ["chrH31.dcm", "chrX1.dcm", "chrRuss.dcm", "chrFren.dcm"])
    func personNamesInEveryCharacterSet(_ name: String) throws {
        let url = PydicomReference.charsetFile(name)
        let ours = try parse(Self.encoder.encode(DICOMReader.read(contentsOf: url).dataSet))
        let theirs = try PydicomReference.json(of: url)
        let key = Tag.patientName.hex
        let a = (ours[key] as? [String: Any])?["Value"] as? [[String: String]]
        let b = (theirs[key] as? [String: Any])?["Value"] as? [[String: String]]
        #expect(a != nil)
        #expect(a == b)
    }

    @Test func emptyValuesHaveNoValueKeyAndNumbersAreNumbers() throws {
        var ds = DataSet()
        ds.set(.patientName, .PN, "")
        ds.set(.seriesNumber, .IS, "007")
        ds.set(Tag(0x0028, 0x1050), .DS, "40.50\\.5")
        ds.set(DataElement(tag: .rows, uint16: [512]))
        let json = try parse(DICOMJSONEncoder().encode(ds))
        #expect((json["00100010"] as? [String: Any])?.keys.sorted() == ["vr"])
        #expect((json["00200011"] as? [String: Any])?["Value"] as? [Int] == [7])
        #expect((json["00281050"] as? [String: Any])?["Value"] as? [Double] == [40.5, 0.5])
        #expect((json["00280010"] as? [String: Any])?["Value"] as? [Int] == [512])
    }

    /// A fuzzer's find: `1.3671e0880` is JSON by grammar, but JSONSerialization refuses the document.
    @Test func numbersBeyondADoubleAreNullAndUnderflowIsZero() throws {
        var ds = DataSet()
        ds.set(Tag(0x0028, 0x0030), .DS, "1.3671e0880\\1e-400\\+1.5\\2.5E+2")
        let json = try parse(DICOMJSONEncoder().encode(ds))
        let values = try #require((json["00280030"] as? [String: Any])?["Value"] as? [Any])
        #expect(values.count == 4)
        #expect(values[0] is NSNull)
        #expect(values.dropFirst().compactMap { $0 as? Double } == [0, 1.5, 250])
    }

    @Test func textIsEscaped() throws {
        var ds = DataSet()
        ds.set(.studyDescription, .LO, "quote \" backslash-free\ttab")
        ds.set(Tag(0x0008, 0x4000), .LT, "line1\r\nline2 \\ not a separator")
        let json = try parse(DICOMJSONEncoder().encode(ds))
        #expect((json["00081030"] as? [String: Any])?["Value"] as? [String] == ["quote \" backslash-free\ttab"])
        #expect((json["00084000"] as? [String: Any])?["Value"] as? [String] == ["line1\r\nline2 \\ not a separator"])
    }

    /// Printable ASCII values are written straight from their bytes; split, trimmed and emptied as
    /// decoded values are (multi-valued: each value trimmed; LT: leading spaces kept; all empty: no Value).
    @Test func plainASCIIValuesAreSplitAndTrimmedAsDecodedOnesAre() {
        var ds = DataSet()
        ds.set(.imageType, .CS, "ORIGINAL\\PRIMARY \\ AXIAL ")
        ds.set(.sopInstanceUID, .UI, "1.2.3")  // padded with NUL
        ds.set(.studyDescription, .LO, "   ")
        ds.set(Tag(0x0008, 0x4000), .LT, "  leading kept  ")
        ds.set(Tag(0x0018, 0x0050), .DS, "1.50 \\ 2e3\\abc")
        ds.set(.seriesNumber, .IS, " +5")
        ds.set(Tag(0x0020, 0x0060), .CS, "A\\\\B")
        #expect(DICOMJSONEncoder().encode(ds) == """
            {"00080008":{"vr":"CS","Value":["ORIGINAL","PRIMARY","AXIAL"]},"00080018":{"vr":"UI","Value":["1.2.3"]},\
            "00081030":{"vr":"LO"},"00084000":{"vr":"LT","Value":["  leading kept"]},\
            "00180050":{"vr":"DS","Value":[1.50,2e3,null]},"00200011":{"vr":"IS","Value":[5]},\
            "00200060":{"vr":"CS","Value":["A",null,"B"]}}
            """)
    }

    private func parse(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// Same keys, same VRs, same values (numbers compared as numbers), recursively into sequences.
    private func compare(_ a: [String: Any], _ b: [String: Any], path: String) throws {
        #expect(Set(a.keys) == Set(b.keys), "\(path): keys differ: \(Set(a.keys).symmetricDifference(Set(b.keys)).sorted())")
        for key in a.keys.sorted() {
            guard let x = a[key] as? [String: Any], let y = b[key] as? [String: Any] else { continue }
            let where_ = "\(path)/\(key)"
            #expect(x["vr"] as? String == y["vr"] as? String, "\(where_) vr")
            if key == Tag.pixelData.hex, x["BulkDataURI"] != nil {
                // Loupe always references pixel data; pydicom inlines small encapsulated values. Both are valid.
                #expect(y["BulkDataURI"] != nil || y["InlineBinary"] != nil)
            } else {
                #expect(x["InlineBinary"] as? String == y["InlineBinary"] as? String, "\(where_) InlineBinary")
                #expect((x["BulkDataURI"] == nil) == (y["BulkDataURI"] == nil), "\(where_) BulkDataURI")
            }
            let xs = x["Value"] as? [Any] ?? [], ys = y["Value"] as? [Any] ?? []
            #expect(xs.count == ys.count, "\(where_) value count")
            for (i, (u, v)) in zip(xs, ys).enumerated() {
                switch (u, v) {
                case let (u as [String: Any], v as [String: Any]) where x["vr"] as? String == "SQ":
                    try compare(u, v, path: "\(where_)[\(i)]")
                case let (u as [String: Any], v as [String: Any]):
                    #expect(NSDictionary(dictionary: u).isEqual(to: v), "\(where_) PN")
                case let (u as NSNumber, v as NSNumber):
                    #expect(abs(u.doubleValue - v.doubleValue) <= 1e-9 * max(1, abs(v.doubleValue)), "\(where_) \(u) vs \(v)")
                case let (u as String, v as String):
                    #expect(u == v, "\(where_)")
                default:
                    #expect(u is NSNull && v is NSNull, "\(where_): \(u) vs \(v)")
                }
            }
        }
    }
}
