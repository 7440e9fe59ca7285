import Classifier
import Foundation
import Imaging
import Testing

/// A generated lesion photo: skin with a little texture and, around the centre, a lesion whose
/// radius at angle θ is `radius(θ)`, colour `colour(θ)`, and edge width `softness(θ)` pixels.
func lesionPhoto(size: Int = 320, radius: (Double) -> Double, colour: (Double) -> (Double, Double, Double) = { _ in (102, 51, 0) },
                 softness: (Double) -> Double = { _ in 1 }) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: size * size * 3)
    var state: UInt64 = 7
    for y in 0..<size {
        for x in 0..<size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let texture = Double(state >> 60) - 7.5
            let dx = Double(x) - Double(size) / 2, dy = Double(y) - Double(size) / 2
            let theta = atan2(dy, dx)
            let alpha = max(0, min(1, (radius(theta) - (dx * dx + dy * dy).squareRoot()) / softness(theta) + 0.5))
            let lesion = colour(theta), skin = (205.0 + texture, 150.0 + texture, 125.0 + texture)
            let rgb = [skin.0 + alpha * (lesion.0 - skin.0), skin.1 + alpha * (lesion.1 - skin.1), skin.2 + alpha * (lesion.2 - skin.2)]
            for c in 0..<3 { pixels[(y * size + x) * 3 + c] = UInt8(max(0, min(255, rgb[c].rounded()))) }
        }
    }
    return RGBImage(columns: size, rows: size, pixels: pixels)
}

@Suite struct LesionAnalysisTests {
    @Test func aRoundEvenSharpLesionScoresLow() throws {
        let lesion = try LesionAssessment(lesionPhoto(radius: { _ in 60 }), millimetresPerPixel: 0.05)
        #expect(lesion.asymmetry == 0 && lesion.asymmetryIndices.allSatisfy { $0 < 0.05 }, "\(lesion.asymmetryIndices)")
        #expect(lesion.border == 8, "\(lesion.borderSharpness)")
        #expect(lesion.colours == ["dark brown"], "\(lesion.colourShares)")
        #expect(abs(lesion.diameterPixels - 121) <= 3, "\(lesion.diameterPixels)")
        #expect(abs(lesion.diameterMillimetres! - 6.05) < 0.2 && lesion.differentialStructures == 2)
        #expect(abs(lesion.irregularity - 1) < 0.15, "\(lesion.irregularity)")
        #expect(lesion.totalDermoscopyScore == 0.1 * 8 + 0.5 * 1 + 0.5 * 2 && lesion.risk == "low")
        #expect(abs(Double(lesion.areaPixels) - Double.pi * 3600) / (Double.pi * 3600) < 0.05)
    }

    @Test func anIrregularVariegatedLesionWithAFadingBorderScoresHigh() throws {
        let photo = lesionPhoto(
            radius: { 55 * (1 + 0.35 * max(0, cos($0 - 0.4)) + 0.12 * sin(3 * $0)) },
            colour: { theta in
                switch theta {
                case ..<(-1.5): (0, 0, 0)  // black
                case ..<0: (51, 102, 153)  // blue-grey
                case ..<1.6: (102, 51, 0)  // dark brown
                default: (204, 51, 51)  // red
                }
            },
            softness: { $0 > 0 ? 14 : 1 })
        let lesion = try LesionAssessment(photo, millimetresPerPixel: 0.1)
        #expect(lesion.asymmetry >= 1, "\(lesion.asymmetryIndices)")
        #expect((2...6).contains(lesion.border), "\(lesion.borderSharpness)")
        #expect(lesion.colours.count >= 3 && lesion.colours.contains("black") && lesion.colours.contains("blue-grey"), "\(lesion.colourShares)")
        #expect(lesion.irregularity > 1.05)
        #expect(lesion.totalDermoscopyScore > 5.45 && lesion.risk == "high", "\(lesion.totalDermoscopyScore)")
        let plain = try LesionAssessment(photo)
        #expect(plain.diameterMillimetres == nil && plain.differentialStructures == 1)
    }

    @Test func theOutlineFollowsTheBorder() throws {
        let round = try LesionAssessment(lesionPhoto(radius: { _ in 60 }))
        #expect((64...LesionAssessment.outlinePoints).contains(round.outline.count), "\(round.outline.count)")
        for point in round.outline {
            let distance = (pow(point[0] * 320 - 160, 2) + pow(point[1] * 320 - 160, 2)).squareRoot()
            #expect(abs(distance - 60) < 2, "\(point)")
        }
        // The polygon encloses the lesion's area (shoelace formula), for an irregular one too.
        let irregular = try LesionAssessment(lesionPhoto(radius: { 55 * (1 + 0.35 * max(0, cos($0 - 0.4)) + 0.12 * sin(3 * $0)) }))
        for lesion in [round, irregular] {
            let points = lesion.outline.map { ($0[0] * 320, $0[1] * 320) }
            let area = abs(zip(points, points.dropFirst() + points.prefix(1)).reduce(0.0) { $0 + $1.0.0 * $1.1.1 - $1.1.0 * $1.0.1 }) / 2
            #expect(abs(area - Double(lesion.areaPixels)) / Double(lesion.areaPixels) < 0.05, "\(area) vs \(lesion.areaPixels)")
        }
    }

    @Test func skinWithoutALesionHasNone() {
        #expect(throws: PhotoAnalysisError.self) { try LesionAssessment(lesionPhoto(radius: { _ in 0 })) }
    }
}
