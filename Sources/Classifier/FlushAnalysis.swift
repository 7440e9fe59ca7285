import Foundation
import Imaging

/// How red the skin of a photo is. The erythema index (Dawson et al. 1980; Diffey et al. 1984) is
/// 100 · log10(R / G) of red and green reflectance: haemoglobin absorbs green, so more blood under
/// the skin lowers G against R. Taken on linear-light values (sRGB decoded), it is a ratio, so a
/// change of brightness alone leaves it where it was. CIELAB a* (D65) is reported beside it.
public struct SkinRedness: Sendable, Equatable, Codable {
    /// Mean erythema index over the skin region.
    public let erythemaIndex: Double
    /// Mean CIELAB a* and L* over the skin region (a* moves with brightness; reported, not scored).
    public let aStar: Double
    public let lightness: Double
    public let skinPixels: Int
    public let skinFraction: Double
    public let faceFound: Bool

    /// Fewer skin pixels than this, or less of the photo than `minimumFraction`: nothing to measure.
    public static let minimumPixels = 400
    public static let minimumFraction = 0.01

    public init(measuring image: RGBImage) throws(PhotoAnalysisError) {
        let skin = SkinMap(image)
        let count = skin.count
        guard count >= Self.minimumPixels, skin.fraction >= Self.minimumFraction else {
            throw PhotoAnalysisError("no skin found (\(count) skin-coloured pixels, \(String(format: "%.1f", skin.fraction * 100)) % of the photo)")
        }
        var erythema = 0.0, a = 0.0, l = 0.0
        let linear = Self.linearTable
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<skin.mask.count where skin.mask[i] {
                let r = linear[Int(p[3 * i])], g = linear[Int(p[3 * i + 1])], b = linear[Int(p[3 * i + 2])]
                erythema += 100 * log10(r / g)
                let lab = Self.lab(r, g, b)
                l += lab.l
                a += lab.a
            }
        }
        let n = Double(count)
        erythemaIndex = erythema / n
        aStar = a / n
        lightness = l / n
        skinPixels = count
        skinFraction = skin.fraction
        faceFound = skin.faceFound
    }

    /// sRGB → linear light, per 8-bit value.
    static let linearTable: [Double] = (0..<256).map { value in
        let c = Double(value) / 255
        return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
    }

    /// CIELAB (D65 white) of linear sRGB.
    static func lab(_ r: Double, _ g: Double, _ b: Double) -> (l: Double, a: Double, b: Double) {
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        func f(_ t: Double) -> Double { t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
        return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))
    }
}

/// Flush levels and where they start, in erythema-index units above the patient's baseline.
/// The defaults are a starting point for a ward to calibrate (`flush.mild`, `flush.marked`).
public struct FlushThresholds: Sendable, Equatable, Codable {
    public var mild: Double
    public var marked: Double

    public init(mild: Double = 4, marked: Double = 10) {
        self.mild = mild
        self.marked = marked
    }

    public func level(_ score: Double) -> FlushLevel {
        score >= marked ? .marked : score >= mild ? .mild : .none
    }
}

public enum FlushLevel: String, Sendable, Codable, Comparable {
    case none, mild, marked

    public static func < (a: FlushLevel, b: FlushLevel) -> Bool {
        let order: [FlushLevel] = [.none, .mild, .marked]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}

/// A flush photo against the patient's baseline: the score is the rise of the erythema index.
public struct FlushAssessment: Sendable, Equatable, Codable {
    public let score: Double
    public let level: FlushLevel
    public let photo: SkinRedness
    public let baseline: SkinRedness
    public let thresholds: FlushThresholds

    public init(photo: SkinRedness, baseline: SkinRedness, thresholds: FlushThresholds) {
        self.photo = photo
        self.baseline = baseline
        self.thresholds = thresholds
        score = photo.erythemaIndex - baseline.erythemaIndex
        level = thresholds.level(score)
    }
}

/// Why a photo could not be analysed.
public struct PhotoAnalysisError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
