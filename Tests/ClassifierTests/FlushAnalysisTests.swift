import Classifier
import Foundation
import Imaging
import Testing

/// A generated face photo: a skin-coloured oval with texture on a blue-grey wall; `redness` (0–1)
/// raises red and lowers green on the skin, most on the cheeks; `brightness` scales everything.
func facePhoto(redness: Double = 0, brightness: Double = 1, columns: Int = 320, rows: Int = 240, seed: UInt64 = 1) -> RGBImage {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1
    func noise() -> Double {  // uniform in [-1, 1)
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 52) - 1
    }
    var pixels = [UInt8](repeating: 0, count: columns * rows * 3)
    let (w, h) = (Double(columns), Double(rows))
    for y in 0..<rows {
        for x in 0..<columns {
            let (fx, fy) = (Double(x), Double(y))
            var rgb = [120.0, 135, 150].map { $0 + 4 * noise() }
            if pow((fx - w / 2) / (w * 0.28), 2) + pow((fy - h / 2) / (h * 0.4), 2) <= 1 {
                let cheeks = [w * 0.38, w * 0.62].map { cx in exp(-(pow(fx - cx, 2) + pow(fy - h * 0.55, 2)) / (2 * pow(w * 0.09, 2))) }.reduce(0, +)
                let flush = redness * (0.5 + 0.5 * min(1, cheeks))
                let texture = 5 * noise()
                rgb = [205 + texture + 35 * flush, 150 + texture - 45 * flush, 125 + texture - 20 * flush]
            }
            for c in 0..<3 { pixels[(y * columns + x) * 3 + c] = UInt8(max(0, min(255, (rgb[c] * brightness).rounded()))) }
        }
    }
    return RGBImage(columns: columns, rows: rows, pixels: pixels)
}

@Suite struct FlushAnalysisTests {
    @Test func findsTheFaceAndItsSkin() throws {
        let measured = try SkinRedness(measuring: facePhoto())
        #expect(measured.faceFound)
        // The oval covers π · 0.28 · 0.4 ≈ 35 % of the photo.
        #expect(abs(measured.skinFraction - 0.352) < 0.03, "\(measured.skinFraction)")
    }

    @Test func moreRednessScoresHigher() throws {
        let baseline = try SkinRedness(measuring: facePhoto())
        let thresholds = FlushThresholds()
        var previous = 0.0
        var levels: [FlushLevel] = []
        for redness in [0.15, 0.3, 0.5, 0.8] {
            let assessment = FlushAssessment(photo: try SkinRedness(measuring: facePhoto(redness: redness, seed: 2)), baseline: baseline,
                                             thresholds: thresholds)
            #expect(assessment.score > previous, "redness \(redness): \(assessment.score)")
            #expect(assessment.photo.aStar > baseline.aStar)
            previous = assessment.score
            levels.append(assessment.level)
        }
        #expect(levels.first == FlushLevel.none || levels.first == .mild)
        #expect(levels.last == .marked && levels == levels.sorted())
    }

    @Test func aChangeOfLightAloneDoesNotFlush() throws {
        let baseline = try SkinRedness(measuring: facePhoto())
        for brightness in [0.6, 0.8, 1.15] {
            let assessment = FlushAssessment(photo: try SkinRedness(measuring: facePhoto(brightness: brightness, seed: 3)), baseline: baseline,
                                             thresholds: FlushThresholds())
            // sRGB is not quite a power law, so a ratio of encoded values moves a little (−1.4 at 60 %):
            // well under half the mild threshold, where the mildest flush above scores 4.7.
            #expect(abs(assessment.score) < FlushThresholds().mild / 2, "brightness \(brightness): \(assessment.score)")
            #expect(assessment.level == FlushLevel.none)
        }
    }

    @Test func aPhotoWithoutSkinCannotBeMeasured() {
        let wall = RGBImage(columns: 64, rows: 64, pixels: [UInt8](repeating: 0, count: 64 * 64 * 3).enumerated().map { [120, 135, 150][$0.offset % 3] })
        #expect(throws: PhotoAnalysisError.self) { try SkinRedness(measuring: wall) }
    }

    @Test func skinColoursAreSkinAndOthersAreNot() {
        for (r, g, b) in [(205, 150, 125), (240, 105, 125), (120, 80, 60), (90, 60, 45), (250, 200, 180)] {
            #expect(SkinMap.isSkin(UInt8(r), UInt8(g), UInt8(b)), "\(r),\(g),\(b)")
        }
        for (r, g, b) in [(120, 135, 150), (40, 160, 60), (128, 128, 128), (255, 255, 255), (10, 10, 10), (200, 40, 200)] {
            #expect(!SkinMap.isSkin(UInt8(r), UInt8(g), UInt8(b)), "\(r),\(g),\(b)")
        }
    }
}
