/// What a JPEG stream's markers say about its pixels (ITU-T T.81 B.2), read up to the first scan:
/// enough to decide whether its bytes can go into DICOM unchanged as JPEG Baseline (PS3.5 8.2.1)
/// and with which photometric interpretation.
public struct JPEGStructure: Sendable, Equatable {
    /// The SOF marker: 0xC0 baseline, 0xC1 extended sequential, 0xC2 progressive, ...
    public let frameMarker: UInt8
    public let precision: Int
    public let columns: Int
    public let rows: Int
    public let components: [Component]
    /// The APP14 "Adobe" colour transform (0: none, the components are RGB or CMYK; 1: YCbCr).
    public let adobeTransform: UInt8?
    /// The EXIF orientation (1 is upright; 2–8 flip and/or rotate), when the file has one.
    public let exifOrientation: Int?

    public struct Component: Sendable, Equatable {
        public let id: UInt8
        public let horizontalSampling: Int
        public let verticalSampling: Int
    }

    /// Not a JPEG, or its markers end before a frame header.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The chroma subsampling of a three-component image.
    public enum Subsampling: Sendable { case none, horizontal, both, other }

    public var subsampling: Subsampling {
        guard components.count == 3 else { return .other }
        let (y, cb, cr) = (components[0], components[1], components[2])
        guard cb.horizontalSampling == 1, cb.verticalSampling == 1, cr.horizontalSampling == 1, cr.verticalSampling == 1 else {
            return .other
        }
        switch (y.horizontalSampling, y.verticalSampling) {
        case (1, 1): return .none
        case (2, 1): return .horizontal
        case (2, 2): return .both
        default: return .other
        }
    }

    /// Components stored as RGB (no colour transform): an Adobe transform of 0, or components
    /// named 'R', 'G', 'B' (as libjpeg decides).
    public var isRGB: Bool {
        guard components.count == 3 else { return false }
        if let adobeTransform { return adobeTransform == 0 }
        return components.map(\.id) == [0x52, 0x47, 0x42]
    }

    public init(_ bytes: [UInt8]) throws(Malformed) {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { throw Malformed(description: "not a JPEG stream") }
        var position = 2
        var adobe: UInt8?
        var orientation: Int?
        while true {
            // Fill bytes (0xFF) may precede a marker.
            while position < bytes.count, bytes[position] == 0xFF, position + 1 < bytes.count, bytes[position + 1] == 0xFF {
                position += 1
            }
            guard position + 4 <= bytes.count, bytes[position] == 0xFF else {
                throw Malformed(description: "the JPEG stream ends before its frame header")
            }
            let marker = bytes[position + 1]
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { position += 2; continue }  // no length
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            let start = position + 4, end = position + 2 + length
            guard length >= 2, end <= bytes.count else { throw Malformed(description: "a JPEG segment runs past the end of the file") }
            let segment = Array(bytes[start..<end])
            switch marker {
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                guard segment.count >= 6 else { throw Malformed(description: "a short JPEG frame header") }
                let count = Int(segment[5])
                guard count >= 1, segment.count >= 6 + 3 * count else { throw Malformed(description: "a short JPEG frame header") }
                frameMarker = marker
                precision = Int(segment[0])
                rows = Int(segment[1]) << 8 | Int(segment[2])
                columns = Int(segment[3]) << 8 | Int(segment[4])
                components = (0..<count).map { i in
                    let base = 6 + 3 * i
                    return Component(id: segment[base], horizontalSampling: Int(segment[base + 1] >> 4),
                                     verticalSampling: Int(segment[base + 1] & 0x0F))
                }
                adobeTransform = adobe
                exifOrientation = orientation
                return
            case 0xEE where segment.count >= 12 && segment.starts(with: Array("Adobe".utf8)):
                adobe = segment[11]
            case 0xE1 where segment.starts(with: Array("Exif".utf8) + [0, 0]):
                orientation = Self.orientation(tiff: Array(segment.dropFirst(6)))
            case 0xDA, 0xD9:
                throw Malformed(description: "the JPEG stream has no frame header before its scan")
            default:
                break
            }
            position = end
        }
    }

    /// Tag 0x0112 of IFD0 in an EXIF TIFF structure.
    static func orientation(tiff: [UInt8]) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<count {
            let base = ifd + 2 + entry * 12
            guard let tag = u16(base) else { return nil }
            if tag == 0x0112, let type = u16(base + 2), type == 3 { return u16(base + 8) }
        }
        return nil
    }
}
