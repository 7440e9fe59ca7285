import Foundation
import Imaging

/// ABCD features of a skin lesion photo and the total dermoscopy score of Stolz' ABCD rule
/// (Stolz et al. 1994): TDS = 1.3·A + 0.1·B + 0.5·C + 0.5·D. A rule-based score computed from
/// pixels, to sort and compare photos: never a diagnosis.
///
/// - Segmentation: the lesion is the darker side of an Otsu threshold of the smoothed luminance,
///   the largest such patch not touching the photo's edge (else the largest), holes filled.
/// - A (0–2): the principal axes through the centroid across which the lesion is asymmetric in
///   shape (more than 15 % of it does not overlap its mirror image) or in colour (the halves'
///   mean colours differ by more than 15 ΔE).
/// - B (0–8): the octants around the centroid where the border is abrupt (the luminance step is
///   taken within a few pixels: the mean gradient on the border is at least a tenth of the
///   lesion/skin contrast per pixel). Also reported: the irregularity index P²/(4πA), 1 for a disc.
/// - C (1–6): the dermoscopic colours (white, red, light brown, dark brown, blue-grey, black) that
///   each cover at least 5 % of the lesion, by nearest colour in CIELAB.
/// - D (1–5): Stolz' D counts differential structures (network, dots, globules, streaks,
///   structureless areas), which this analysis does not see; the diameter stands in for it: 1
///   below 6 mm or without a scale, 2 from 6 mm, one more per further 3 mm.
public struct LesionAssessment: Sendable, Equatable, Codable {
    public let asymmetry: Int
    /// Per principal axis: the share of the lesion that does not overlap its mirror image.
    public let asymmetryIndices: [Double]
    /// Per principal axis: CIELAB ΔE between the mean colours of the two halves.
    public let colourAsymmetry: [Double]
    public let border: Int
    public let borderSharpness: [Double]
    public let irregularity: Double
    public let colours: [String]
    public let colourShares: [String: Double]
    /// In the photo's pixels.
    public let diameterPixels: Double
    /// In millimetres, when the photo carries a scale.
    public let diameterMillimetres: Double?
    public let differentialStructures: Int
    public let totalDermoscopyScore: Double
    /// `low` (TDS < 4.75), `suspicious` (4.75–5.45), `high` (> 5.45): Stolz' bands.
    public let risk: String
    public let areaPixels: Int
    public let areaFraction: Double
    /// The lesion's border, a closed polygon of at most `outlinePoints` points in fractions of the
    /// photo's width and height (x, y from the top left corner), to draw over the photo.
    public let outline: [[Double]]
    public let formula: String
    public let note: String

    public static let colourReferences: [(name: String, rgb: (UInt8, UInt8, UInt8))] = [
        ("white", (255, 255, 255)), ("red", (204, 51, 51)), ("light brown", (153, 102, 51)),
        ("dark brown", (102, 51, 0)), ("blue-grey", (51, 102, 153)), ("black", (0, 0, 0)),
    ]

    /// - Parameters:
    ///   - photoPixelsPerPixel: when `image` is a reduced view of the photo, the photo's pixels per
    ///     pixel of it: sizes are reported in the photo's pixels.
    ///   - millimetresPerPixel: of the photo, when it has a scale.
    public init(_ image: RGBImage, photoPixelsPerPixel: Double = 1, millimetresPerPixel: Double? = nil) throws(PhotoAnalysisError) {
        let (w, h) = (image.columns, image.rows)
        guard w >= 16, h >= 16, image.pixels.count >= w * h * 3 else { throw PhotoAnalysisError("a \(w)×\(h) photo is too small for a lesion") }
        let luminance = Self.smoothedLuminance(image)
        let threshold = Self.otsu(luminance)
        let mask = try Self.lesionMask(luminance, w, h, threshold: threshold)
        let area = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
        outline = Self.trace(mask, w, h).map { [Self.rounded(($0.x + 0.5) / Double(w)), Self.rounded(($0.y + 0.5) / Double(h))] }

        // Centroid and principal axes.
        var (sx, sy) = (0.0, 0.0)
        for i in mask.indices where mask[i] { sx += Double(i % w); sy += Double(i / w) }
        let (cx, cy) = (sx / Double(area), sy / Double(area))
        var (m20, m02, m11) = (0.0, 0.0, 0.0)
        for i in mask.indices where mask[i] {
            let dx = Double(i % w) - cx, dy = Double(i / w) - cy
            m20 += dx * dx; m02 += dy * dy; m11 += dx * dy
        }
        let angle = 0.5 * atan2(2 * m11, m20 - m02)
        let axes = [(cos(angle), sin(angle)), (-sin(angle), cos(angle))]
        asymmetryIndices = axes.map { u in
            var outside = 0
            for i in mask.indices where mask[i] {
                let dx = Double(i % w) - cx, dy = Double(i / w) - cy
                let along = dx * u.0 + dy * u.1
                let (rx, ry) = (Int((cx + 2 * along * u.0 - dx).rounded()), Int((cy + 2 * along * u.1 - dy).rounded()))
                if rx < 0 || ry < 0 || rx >= w || ry >= h || !mask[ry * w + rx] { outside += 1 }
            }
            return Double(outside) / Double(area)
        }
        // Colour: the mean CIELAB colour of the lesion on either side of each axis.
        colourAsymmetry = axes.map { u in
            var sums = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], counts = [0.0, 0.0]
            image.pixels.withUnsafeBufferPointer { p in
                for i in mask.indices where mask[i] {
                    let dx = Double(i % w) - cx, dy = Double(i / w) - cy
                    let side = dx * -u.1 + dy * u.0 < 0 ? 0 : 1
                    let lab = SRGB.lab(p[3 * i], p[3 * i + 1], p[3 * i + 2])
                    sums[side][0] += lab.l; sums[side][1] += lab.a; sums[side][2] += lab.b
                    counts[side] += 1
                }
            }
            guard counts[0] > 0, counts[1] > 0 else { return 0 }
            return (0..<3).map { pow(sums[0][$0] / counts[0] - sums[1][$0] / counts[1], 2) }.reduce(0, +).squareRoot()
        }
        asymmetry = zip(asymmetryIndices, colourAsymmetry).filter { $0 > 0.15 || $1 > 15 }.count

        // Border: pixels of the lesion with a 4-neighbour outside it.
        var boundary: [Int] = []
        var edges = 0
        for i in mask.indices where mask[i] {
            let x = i % w, y = i / w
            var outsideNeighbours = 0
            for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx < 0 || ny < 0 || nx >= w || ny >= h || !mask[ny * w + nx] {
                outsideNeighbours += 1
            }
            if outsideNeighbours > 0 { boundary.append(i); edges += outsideNeighbours }
        }
        let perimeter = Double(edges) * Double.pi / 4  // a digital outline's edge count overstates a curve by 4/π
        irregularity = perimeter * perimeter / (4 * Double.pi * Double(area))
        var (inside, outsideSum, outsideCount) = (0.0, 0.0, 0)
        for i in mask.indices {
            if mask[i] { inside += luminance[i] } else { outsideSum += luminance[i]; outsideCount += 1 }
        }
        let step = outsideSum / Double(max(1, outsideCount)) - inside / Double(area)
        guard step >= 15 else {
            throw PhotoAnalysisError("no lesion found (no patch is clearly darker than the skin around it: \(String(format: "%.0f", step)) levels)")
        }
        let contrast = step
        var octantGradient = [Double](repeating: 0, count: 8), octantCount = [Int](repeating: 0, count: 8)
        for i in boundary {
            let x = i % w, y = i / w
            guard x > 0, y > 0, x < w - 1, y < h - 1 else { continue }
            let gx = (luminance[i + 1] - luminance[i - 1]) / 2, gy = (luminance[i + w] - luminance[i - w]) / 2
            let theta = atan2(Double(y) - cy, Double(x) - cx)
            let octant = min(7, Int(((theta + Double.pi) / (2 * Double.pi) * 8).rounded(.down)))
            octantGradient[octant] += (gx * gx + gy * gy).squareRoot()
            octantCount[octant] += 1
        }
        borderSharpness = (0..<8).map { octantCount[$0] > 0 ? octantGradient[$0] / Double(octantCount[$0]) / contrast : 0 }
        border = borderSharpness.filter { $0 >= 0.1 }.count

        // Colours, inside the border (its pixels mix lesion and skin).
        var interior = mask
        for _ in 0..<2 {
            let previous = interior
            for i in previous.indices where previous[i] {
                let x = i % w, y = i / w
                if x == 0 || y == 0 || x == w - 1 || y == h - 1 || !previous[i - 1] || !previous[i + 1] || !previous[i - w] || !previous[i + w] {
                    interior[i] = false
                }
            }
        }
        if !interior.contains(true) { interior = mask }
        let references = Self.colourReferences.map { SRGB.lab($0.rgb.0, $0.rgb.1, $0.rgb.2) }
        var counts = [Int](repeating: 0, count: references.count)
        image.pixels.withUnsafeBufferPointer { p in
            for i in interior.indices where interior[i] {
                let lab = SRGB.lab(p[3 * i], p[3 * i + 1], p[3 * i + 2])
                var best = 0, bestDistance = Double.infinity
                for (k, reference) in references.enumerated() {
                    let d = pow(lab.l - reference.l, 2) + pow(lab.a - reference.a, 2) + pow(lab.b - reference.b, 2)
                    if d < bestDistance { (best, bestDistance) = (k, d) }
                }
                counts[best] += 1
            }
        }
        let total = Double(max(1, counts.reduce(0, +)))
        let shares = Dictionary(uniqueKeysWithValues: zip(Self.colourReferences.map(\.name), counts.map { Double($0) / total }))
        colourShares = shares
        colours = Self.colourReferences.map(\.name).filter { shares[$0]! >= 0.05 }

        // Diameter: the largest distance across the border (at most 2000 of its points).
        let stride = max(1, boundary.count / 2000)
        let points = Swift.stride(from: 0, to: boundary.count, by: stride).map { (Double(boundary[$0] % w), Double(boundary[$0] / w)) }
        var longest = 0.0
        for a in points.indices {
            for b in points.indices where b > a {
                longest = max(longest, (points[a].0 - points[b].0) * (points[a].0 - points[b].0) + (points[a].1 - points[b].1) * (points[a].1 - points[b].1))
            }
        }
        let diameter = (longest.squareRoot() + 1) * photoPixelsPerPixel
        diameterPixels = diameter
        let millimetres = millimetresPerPixel.map { diameter * $0 }
        diameterMillimetres = millimetres
        if let mm = millimetres, mm >= 6 {
            differentialStructures = min(5, 2 + Int((mm - 6) / 3))
        } else {
            differentialStructures = 1
        }

        let c = max(1, self.colours.count)
        totalDermoscopyScore = 1.3 * Double(asymmetry) + 0.1 * Double(border) + 0.5 * Double(c) + 0.5 * Double(differentialStructures)
        risk = totalDermoscopyScore > 5.45 ? "high" : totalDermoscopyScore >= 4.75 ? "suspicious" : "low"
        areaPixels = Int((Double(area) * photoPixelsPerPixel * photoPixelsPerPixel).rounded())
        areaFraction = Double(area) / Double(w * h)
        formula = "TDS = 1.3·A + 0.1·B + 0.5·C + 0.5·D (Stolz' ABCD rule; D from the diameter, as differential structures are not assessed)"
        note = "A rule-based score computed from the photo's pixels, to sort and compare photos; not a diagnosis."
    }

    public static let outlinePoints = 128

    /// The outer border of a mask's one patch (Moore-neighbour tracing, clockwise from its top left
    /// pixel, stopping on Jacob's criterion), thinned to at most `outlinePoints` points.
    static func trace(_ mask: [Bool], _ w: Int, _ h: Int) -> [(x: Double, y: Double)] {
        guard let start = mask.firstIndex(of: true) else { return [] }
        // Clockwise on screen (y down), starting east.
        let steps = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
        func inside(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < w && y < h && mask[y * w + x] }
        var border = [(start % w, start / w)]
        var (x, y) = border[0]
        // Entered from the west: the start pixel is the first of its row.
        var back = 4
        let (firstBack, limit) = (back, 4 * mask.count + 8)
        while border.count < limit {
            var moved = false
            for k in 1...8 {
                let d = (back + k) % 8
                let (nx, ny) = (x + steps[d].0, y + steps[d].1)
                guard inside(nx, ny) else { continue }
                // The neighbour checked before this one is outside: it is where the next search starts.
                let previous = (back + k - 1) % 8
                let (bx, by) = (x + steps[previous].0 - nx, y + steps[previous].1 - ny)
                back = steps.firstIndex { $0 == (bx, by) } ?? 4
                (x, y) = (nx, ny)
                moved = true
                break
            }
            if !moved || (x, y) == border[0] && back == firstBack { break }
            border.append((x, y))
        }
        let stride = max(1, (border.count + outlinePoints - 1) / outlinePoints)
        return Swift.stride(from: 0, to: border.count, by: stride).map { (Double(border[$0].0), Double(border[$0].1)) }
    }

    static func rounded(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }

    /// Luminance (Rec. 601) smoothed by two 3×3 box passes.
    static func smoothedLuminance(_ image: RGBImage) -> [Double] {
        let (w, h) = (image.columns, image.rows)
        var l = [Double](repeating: 0, count: w * h)
        image.pixels.withUnsafeBufferPointer { p in
            for i in l.indices { l[i] = 0.299 * Double(p[3 * i]) + 0.587 * Double(p[3 * i + 1]) + 0.114 * Double(p[3 * i + 2]) }
        }
        for _ in 0..<2 {
            var out = l
            for y in 0..<h {
                for x in 0..<w {
                    var sum = 0.0, n = 0.0
                    for ny in max(0, y - 1)...min(h - 1, y + 1) {
                        for nx in max(0, x - 1)...min(w - 1, x + 1) { sum += l[ny * w + nx]; n += 1 }
                    }
                    out[y * w + x] = sum / n
                }
            }
            l = out
        }
        return l
    }

    /// Otsu's threshold of values in [0, 255].
    static func otsu(_ values: [Double]) -> Double {
        var histogram = [Double](repeating: 0, count: 256)
        for v in values { histogram[max(0, min(255, Int(v)))] += 1 }
        let total = Double(values.count)
        let sum = histogram.enumerated().reduce(0.0) { $0 + Double($1.offset) * $1.element }
        var (background, weighted, best, threshold) = (0.0, 0.0, -1.0, 0)
        for t in 0..<256 {
            background += histogram[t]
            guard background > 0, background < total else { continue }
            weighted += Double(t) * histogram[t]
            let meanBelow = weighted / background, meanAbove = (sum - weighted) / (total - background)
            let between = background * (total - background) * pow(meanBelow - meanAbove, 2)
            if between > best { (best, threshold) = (between, t) }
        }
        return Double(threshold) + 0.5
    }

    /// The darker patch that is the lesion, holes filled.
    static func lesionMask(_ luminance: [Double], _ w: Int, _ h: Int, threshold: Double) throws(PhotoAnalysisError) -> [Bool] {
        let dark = Patches(luminance.map { $0 < threshold }, columns: w, rows: h)
        // An inner patch beats any patch touching the edge; then the larger wins.
        var best = -1
        for (index, patch) in dark.all.enumerated() {
            let inner = !dark.touchesEdge(patch)
            guard best >= 0 else { best = index; continue }
            let bestInner = !dark.touchesEdge(dark.all[best])
            if (inner && !bestInner) || (inner == bestInner && patch.size > dark.all[best].size) { best = index }
        }
        let size = best >= 0 ? dark.all[best].size : 0
        let fraction = Double(size) / Double(w * h)
        guard size >= 50, fraction >= 0.002, fraction <= 0.9 else {
            throw PhotoAnalysisError("no lesion found (the darkest patch covers \(String(format: "%.2f", fraction * 100)) % of the photo)")
        }
        // Fill holes: a patch outside the lesion that does not reach the edge belongs to it.
        let outside = Patches(dark.labels.map { $0 != Int32(best) }, columns: w, rows: h)
        return outside.labels.map { $0 < 0 || !outside.touchesEdge(outside.all[Int($0)]) }
    }
}
