import Foundation
import Imaging

/// Where the skin of a photo is: pixels whose hue and saturation are those of skin (an HSV skin
/// model, which a change of light alone does not move), narrowed to the face when one is clearly
/// present (the largest compact patch of skin, a sizeable part of the photo). Shared by the
/// flush and lesion analyses.
public struct SkinMap: Sendable {
    public let columns: Int
    public let rows: Int
    /// One flag per pixel, row by row: the region measured.
    public let mask: [Bool]
    /// The region is one large compact patch (a face in a flush photo).
    public let faceFound: Bool

    public var count: Int { mask.reduce(0) { $0 + ($1 ? 1 : 0) } }
    public var fraction: Double { Double(count) / Double(max(1, columns * rows)) }

    /// Skin by colour: hue within 30° either side of orange-red (through magenta-red, where
    /// flushed skin goes), saturation 0.12–0.85, not dark; pixels clipped in any channel are left
    /// out (their ratios are meaningless).
    public static func isSkin(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Bool {
        let maximum = max(r, g, b), minimum = min(r, g, b)
        guard maximum >= 40, maximum < 252, minimum > 3, r == maximum else { return false }
        let chroma = Double(maximum - minimum)
        let saturation = chroma / Double(maximum)
        guard saturation >= 0.12, saturation <= 0.85 else { return false }
        // r is the maximum: hue = 60° · (g − b) / chroma, in (−60°, 60°).
        let hue = 60 * (Double(g) - Double(b)) / chroma
        return hue >= -30 && hue <= 50
    }

    public init(_ image: RGBImage) {
        columns = image.columns
        rows = image.rows
        let count = columns * rows
        var skin = [Bool](repeating: false, count: count)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<min(count, p.count / 3) { skin[i] = Self.isSkin(p[3 * i], p[3 * i + 1], p[3 * i + 2]) }
        }
        // The largest 4-connected patch of skin: the face when it is big and compact.
        let patches = Patches(skin, columns: columns, rows: rows)
        var best = -1
        for (index, patch) in patches.all.enumerated() where best < 0 || patch.size > patches.all[best].size { best = index }
        let face = best >= 0 && Double(patches.all[best].size) / Double(patches.all[best].boxArea) >= 0.45
            && Double(patches.all[best].size) >= 0.03 * Double(count)
        faceFound = face
        mask = face ? patches.labels.map { $0 == Int32(best) } : skin
    }
}
