import DICOM

/// The DICOM JSON of an instance, computed once at ingest and stored in the index, so metadata
/// requests never re-read files. Bulk values are referenced with `bulkDataScheme` URIs that name
/// the value's tag path (`loupe-bulkdata:7FE00010`, `loupe-bulkdata:00540016/0/00181072`); the web
/// layer rewrites the scheme to the instance's bulkdata URL.
public enum MetadataDocument {
    public static let bulkDataScheme = "loupe-bulkdata:"

    /// The document as stored: DEFLATE-compressed (a quarter of the size; the index stays small).
    static func encodeCompressed(_ file: DICOMFile, bulkDataThreshold: Int) -> [UInt8] {
        let json = Array(encode(file, bulkDataThreshold: bulkDataThreshold).utf8)
        return (try? Deflate.compress(json, fast: true)) ?? []
    }

    package static func encode(_ file: DICOMFile, bulkDataThreshold: Int) -> String {
        let encoder = DICOMJSONEncoder(bulkDataThreshold: bulkDataThreshold) { path in
            bulkDataScheme + path.map { component in
                switch component {
                case .tag(let tag): return tag.hex
                case .item(let index): return String(index)
                }
            }.joined(separator: "/")
        }
        var json = encoder.encode(file.dataSet)
        // Elements after the stop tag (Pixel Data and whatever follows) are only referenced.
        let skipped = file.skippedElements.filter { !$0.tag.isGroupLength && $0.tag != .dataSetTrailingPadding && $0.vr != .SQ }
        guard !skipped.isEmpty else { return json }
        json.removeLast()  // "}"
        for element in skipped {
            if json.count > 1 { json += "," }
            let vr = element.isEncapsulated ? "OB" : element.vr.rawValue
            json += "\"\(element.tag.hex)\":{\"vr\":\"\(vr)\",\"BulkDataURI\":\"\(bulkDataScheme)\(element.tag.hex)\"}"
        }
        json += "}"
        return json
    }
}
