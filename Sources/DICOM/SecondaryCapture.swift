import Foundation

/// Secondary Capture Image objects (PS3.3 A.8) built from pixels Loupe did not receive as DICOM.
public enum SecondaryCapture {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.7"
    /// JPEG Baseline (Process 1): a camera's JPEG is stored as it came.
    public static let jpegBaseline = TransferSyntax(uid: "1.2.840.10008.1.2.4.50")

    /// The pixels of a captured image, single frame, 8 bits per sample.
    public enum Pixels: Sendable, Equatable {
        /// Interleaved RGB, stored native.
        case rgb(columns: Int, rows: Int, pixels: [UInt8])
        /// Interleaved RGB decoded from a JPEG, stored native: the image keeps saying it was lossy
        /// compressed (Lossy Image Compression 01, ISO_10918_1; PS3.3 C.7.6.1.1.5).
        case rgbFromJPEG(columns: Int, rows: Int, pixels: [UInt8])
        /// A JPEG baseline stream kept byte for byte, with the photometric interpretation its
        /// components call for (PS3.5 8.2.1: YBR_FULL_422 when chroma is subsampled, RGB without
        /// colour transform, MONOCHROME2 for one component).
        case jpegBaseline(stream: [UInt8], columns: Int, rows: Int, samplesPerPixel: Int, photometricInterpretation: String)

        public var columns: Int {
            switch self {
            case .rgb(let columns, _, _), .rgbFromJPEG(let columns, _, _), .jpegBaseline(_, let columns, _, _, _): columns
            }
        }

        public var rows: Int {
            switch self {
            case .rgb(_, let rows, _), .rgbFromJPEG(_, let rows, _), .jpegBaseline(_, _, let rows, _, _): rows
            }
        }

        /// The transfer syntax the pixels need.
        public var transferSyntax: TransferSyntax {
            if case .jpegBaseline = self { return SecondaryCapture.jpegBaseline }
            return .explicitVRLittleEndian
        }
    }

    /// A single-frame Secondary Capture image: SOP Common, SC Equipment (Conversion Type
    /// `conversionType`), General Image and Image Pixel attributes. Patient, study and series
    /// attributes are the caller's to add; encode with `pixels.transferSyntax`.
    public static func image(_ pixels: Pixels, sopInstanceUID: String = UID.generate(), conversionType: String = "WSD",
                             modality: String = "OT") -> DataSet {
        precondition((1...65_535).contains(pixels.columns) && (1...65_535).contains(pixels.rows), "DICOM holds up to 65535×65535 pixels")
        var dataSet = DataSet()
        dataSet.set(.sopClassUID, .UI, sopClassUID)
        dataSet.set(.sopInstanceUID, .UI, sopInstanceUID)
        dataSet.set(.modality, .CS, modality)
        dataSet.set(.conversionType, .CS, conversionType)
        dataSet.set(DataElement(tag: .rows, uint16: [UInt16(pixels.rows)]))
        dataSet.set(DataElement(tag: .columns, uint16: [UInt16(pixels.columns)]))
        dataSet.set(DataElement(tag: .bitsAllocated, uint16: [8]))
        dataSet.set(DataElement(tag: .bitsStored, uint16: [8]))
        dataSet.set(DataElement(tag: .highBit, uint16: [7]))
        dataSet.set(DataElement(tag: .pixelRepresentation, uint16: [0]))
        switch pixels {
        case .rgb(let columns, let rows, let rgb), .rgbFromJPEG(let columns, let rows, let rgb):
            precondition(rgb.count == columns * rows * 3, "expected \(columns)×\(rows) RGB pixels")
            dataSet.set(DataElement(tag: .samplesPerPixel, uint16: [3]))
            dataSet.set(.photometricInterpretation, .CS, "RGB")
            dataSet.set(DataElement(tag: .planarConfiguration, uint16: [0]))  // Planar Configuration: interleaved
            dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .bytes(rgb)))
            if case .rgbFromJPEG = pixels {
                dataSet.set(.lossyImageCompression, .CS, "01")
                dataSet.set(.lossyImageCompressionMethod, .CS, "ISO_10918_1")
            }
        case .jpegBaseline(let stream, let columns, let rows, let samples, let photometric):
            dataSet.set(DataElement(tag: .samplesPerPixel, uint16: [UInt16(samples)]))
            dataSet.set(.photometricInterpretation, .CS, photometric)
            if samples > 1 { dataSet.set(DataElement(tag: .planarConfiguration, uint16: [0])) }
            // Lossy Image Compression, its ratio and method (General Image module, C.7.6.1.1.5).
            dataSet.set(.lossyImageCompression, .CS, "01")
            let ratio = Double(columns * rows * samples) / Double(max(stream.count, 1))
            dataSet.set(.lossyImageCompressionRatio, .DS, decimalString(ratio))
            dataSet.set(.lossyImageCompressionMethod, .CS, "ISO_10918_1")
            dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(offsetTable: [], fragments: [stream])))
        }
        return dataSet
    }

    /// A minimal single-frame RGB Secondary Capture image (8 bits per sample, interleaved):
    /// enough for DCMTK to render it; identifying attributes are the caller's to add.
    public static func rgb(columns: Int, rows: Int, pixels: [UInt8], sopInstanceUID: String = UID.generate()) -> DataSet {
        image(.rgb(columns: columns, rows: rows, pixels: pixels), sopInstanceUID: sopInstanceUID)
    }

    /// A DS value of at most 16 characters.
    public static func decimalString(_ value: Double) -> String {
        var text = String(format: "%.6g", value)
        if text.count > 16 { text = String(format: "%.4e", value) }
        return text
    }
}
