/// Secondary Capture Image objects (PS3.3 A.8) built from pixels Loupe did not receive as DICOM.
public enum SecondaryCapture {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.7"

    /// A minimal single-frame RGB Secondary Capture image (8 bits per sample, interleaved):
    /// enough for DCMTK to render it; identifying attributes are the caller's to add.
    public static func rgb(columns: Int, rows: Int, pixels: [UInt8], sopInstanceUID: String = UID.generate()) -> DataSet {
        precondition(pixels.count == columns * rows * 3, "expected \(columns)×\(rows) RGB pixels")
        var dataSet = DataSet()
        dataSet.set(.sopClassUID, .UI, sopClassUID)
        dataSet.set(.sopInstanceUID, .UI, sopInstanceUID)
        dataSet.set(.modality, .CS, "OT")
        dataSet.set(Tag(0x0008, 0x0064), .CS, "WSD")  // Conversion Type: workstation
        dataSet.set(DataElement(tag: .samplesPerPixel, uint16: [3]))
        dataSet.set(.photometricInterpretation, .CS, "RGB")
        dataSet.set(DataElement(tag: Tag(0x0028, 0x0006), uint16: [0]))  // Planar Configuration: interleaved
        dataSet.set(DataElement(tag: .rows, uint16: [UInt16(rows)]))
        dataSet.set(DataElement(tag: .columns, uint16: [UInt16(columns)]))
        dataSet.set(DataElement(tag: .bitsAllocated, uint16: [8]))
        dataSet.set(DataElement(tag: .bitsStored, uint16: [8]))
        dataSet.set(DataElement(tag: Tag(0x0028, 0x0102), uint16: [7]))  // High Bit
        dataSet.set(DataElement(tag: .pixelRepresentation, uint16: [0]))
        dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .bytes(pixels.count % 2 == 0 ? pixels : pixels + [0])))
        return dataSet
    }
}
