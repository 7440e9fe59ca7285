import DICOM

/// A data set without a Part-10 header (explicit VR little endian, as a C-STORE delivers it), so the
/// fuzzer reaches the JSON encoder in fewer steps; the output must always be valid JSON.
enum DICOMJSONTarget {
    static func run(_ bytes: [UInt8]) -> FuzzOutcome {
        let dataSet: DataSet
        do { dataSet = try DICOMReader.readDataSet(bytes) } catch { return FuzzOutcome(error) }
        JSONCheck.requireValid(DICOMJSONEncoder(bulkDataThreshold: 64).encode(dataSet))
        return .accepted
    }
}
