import Foundation
import Imaging

/// Pixel statistics of an image's view (as the network sees it) that an embedding of a natural-
/// image network captures poorly: how much of the frame is empty, saturated, flat or noisy, how
/// colourful it is, how much of it is straight, axis-aligned edges (the borders of dialog boxes
/// and panels drawn over an image), and the flat filled rectangles of such boxes themselves.
public struct ImageStatistics: Sendable, Equatable {
    public static let names = [
        "meanLuminance", "luminanceSpread", "darkFraction", "brightFraction", "entropy", "levelsUsed",
        "meanChroma", "colourfulFraction", "meanGradient", "meanLaplacian", "flatFraction", "edgeFraction",
        "horizontalLines", "verticalLines", "longestHorizontalLine", "longestVerticalLine",
        "panelFraction", "panels", "innerPanelFraction", "innerPanelFill", "innerPanel",
    ]

    /// In the order of `names`, each roughly in [0, 1].
    public let values: [Float]

    public init(_ image: RGBImage) {
        // A malformed image (fewer bytes than its size says) is measured as empty.
        let complete = image.columns >= 1 && image.rows >= 1 && image.pixels.count >= image.columns * image.rows * 3
        let (w, h) = complete ? (image.columns, image.rows) : (0, 0)
        let count = w * h
        var luminance = [Float](repeating: 0, count: count)
        var chromaSum: Float = 0
        var colourful = 0
        var histogram = [Int](repeating: 0, count: 256)
        image.pixels.withUnsafeBufferPointer { rgb in
            for i in 0..<count {
                let r = Float(rgb[3 * i]), g = Float(rgb[3 * i + 1]), b = Float(rgb[3 * i + 2])
                let y = 0.299 * r + 0.587 * g + 0.114 * b
                luminance[i] = y
                histogram[min(255, Int(y.rounded()))] += 1
                let chroma = max(r, g, b) - min(r, g, b)
                chromaSum += chroma
                if chroma > 40 { colourful += 1 }
            }
        }
        let n = Float(max(count, 1))
        let mean = luminance.reduce(0, +) / n
        let variance = luminance.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        var entropy: Float = 0
        for c in histogram where c > 0 {
            let p = Float(c) / n
            entropy -= p * log2(p)
        }

        // Gradients: forward differences; a pixel is "flat" when both are zero and it is not black.
        var gradientSum: Float = 0, laplacianSum: Float = 0
        var flat = 0, edges = 0, interior = 0
        var horizontalRuns = [Int](repeating: 0, count: max(h, 1))  // longest run per row
        var verticalRuns = [Int](repeating: 0, count: max(w, 1))    // longest run per column
        var verticalRun = [Int](repeating: 0, count: max(w, 1))
        if w >= 3 && h >= 3 {
            for y in 0..<(h - 1) {
                var run = 0
                for x in 0..<(w - 1) {
                    let i = y * w + x
                    let dx = luminance[i + 1] - luminance[i], dy = luminance[i + w] - luminance[i]
                    let magnitude = abs(dx) + abs(dy)
                    gradientSum += magnitude
                    if magnitude == 0 && luminance[i] >= 16 { flat += 1 }
                    if magnitude > 64 { edges += 1 }
                    // A horizontal line: a step across rows that does not change along the row.
                    run = abs(dy) >= 12 && abs(dx) < 4 ? run + 1 : 0
                    horizontalRuns[y] = max(horizontalRuns[y], run)
                    verticalRun[x] = abs(dx) >= 12 && abs(dy) < 4 ? verticalRun[x] + 1 : 0
                    verticalRuns[x] = max(verticalRuns[x], verticalRun[x])
                    if x > 0 && y > 0 {
                        let laplacian = 4 * luminance[i] - luminance[i - 1] - luminance[i + 1] - luminance[i - w] - luminance[i + w]
                        laplacianSum += abs(laplacian)
                        interior += 1
                    }
                }
            }
        }
        let steps = Float(max((w - 1) * (h - 1), 1))
        // Lines longer than a fifth of the frame: the edges of boxes, panels and bars.
        let longRows = horizontalRuns.filter { $0 * 5 >= w }.count
        let longColumns = verticalRuns.filter { $0 * 5 >= h }.count
        values = [
            mean / 255,
            variance.squareRoot() / 128,
            Float(histogram[0..<10].reduce(0, +)) / n,
            Float(histogram[246...].reduce(0, +)) / n,
            entropy / 8,
            Float(histogram.filter { $0 > 0 }.count) / 256,
            chromaSum / n / 255,
            Float(colourful) / n,
            gradientSum / steps / 255,
            laplacianSum / Float(max(interior, 1)) / 1020,
            Float(flat) / steps,
            Float(edges) / steps,
            min(1, Float(longRows) / 20),
            min(1, Float(longColumns) / 20),
            Float(horizontalRuns.max() ?? 0) / Float(max(w, 1)),
            Float(verticalRuns.max() ?? 0) / Float(max(h, 1)),
        ] + Self.panels(luminance, columns: w, rows: h)
    }

    /// Panels: patches of flat grey (neither black background nor white saturation) that fill most
    /// of their bounding box, the bodies of dialog boxes, banners and toolbars (their text and
    /// buttons are holes in them). Flat: no step of more than one grey level to the next pixel right
    /// or down; anatomy is rarely that flat over 0.4 % of a frame.
    /// The share of the frame they cover, how many (up to 6), and the largest one clear of the
    /// frame's edge (a box drawn over the image): its share, how much of its box it fills, and
    /// whether there is one. (Bars along an edge are not told apart: ultrasound and other screens
    /// captured as images have header bars of their own.)
    static func panels(_ luminance: [Float], columns w: Int, rows h: Int) -> [Float] {
        guard w >= 3, h >= 3 else { return [0, 0, 0, 0, 0] }
        let level = luminance.map { $0.rounded() }
        var flat = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let dx = x + 1 < w ? abs(level[i + 1] - level[i]) : 0
                let dy = y + 1 < h ? abs(level[i + w] - level[i]) : 0
                flat[i] = max(dx, dy) <= 1 && level[i] >= 12 && level[i] <= 250
            }
        }
        let patches = Patches(flat, columns: w, rows: h)
        let frame = Float(w * h)
        var covered = 0, count = 0
        var inner: Patches.Patch?
        for patch in patches.all where Float(patch.size) >= 0.004 * frame && Float(patch.size) > 0.6 * Float(patch.boxArea) {
            covered += patch.size
            count += 1
            if !patches.touchesEdge(patch), patch.size > inner?.size ?? 0 { inner = patch }
        }
        return [Float(covered) / frame, Float(min(count, 6)) / 6, Float(inner?.size ?? 0) / frame,
                inner.map { Float($0.size) / Float($0.boxArea) } ?? 0, inner == nil ? 0 : 1]
    }
}
