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
        let linear = SRGB.linear
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<skin.mask.count where skin.mask[i] {
                let r = linear[Int(p[3 * i])], g = linear[Int(p[3 * i + 1])], b = linear[Int(p[3 * i + 2])]
                erythema += 100 * log10(r / g)
                let lab = SRGB.lab(linear: r, g, b)
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
