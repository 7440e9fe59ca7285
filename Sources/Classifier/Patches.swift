/// The 4-connected patches of a pixel mask (row by row): each pixel's patch, and each patch's size
/// and bounding box. The skin map looks for the face among them, the lesion analysis for the lesion
/// and for the holes in it, the image statistics for the panels of dialog boxes.
struct Patches {
    struct Patch {
        var size = 0
        var minX = Int.max, minY = Int.max, maxX = Int.min, maxY = Int.min
        var boxArea: Int { (maxX - minX + 1) * (maxY - minY + 1) }
    }

    let columns: Int
    let rows: Int
    /// The patch of each pixel (an index into `all`), -1 outside the mask.
    let labels: [Int32]
    let all: [Patch]

    init(_ mask: [Bool], columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
        var labels = [Int32](repeating: -1, count: mask.count)
        var all: [Patch] = []
        var stack: [Int] = []
        for start in mask.indices where mask[start] && labels[start] < 0 {
            let label = Int32(all.count)
            var patch = Patch()
            labels[start] = label
            stack.append(start)
            while let i = stack.popLast() {
                let x = i % columns, y = i / columns
                patch.size += 1
                (patch.minX, patch.minY, patch.maxX, patch.maxY) = (min(patch.minX, x), min(patch.minY, y), max(patch.maxX, x), max(patch.maxY, y))
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < columns && ny < rows {
                    let j = ny * columns + nx
                    if mask[j] && labels[j] < 0 {
                        labels[j] = label
                        stack.append(j)
                    }
                }
            }
            all.append(patch)
        }
        self.labels = labels
        self.all = all
    }

    func touchesEdge(_ patch: Patch) -> Bool {
        patch.minX == 0 || patch.minY == 0 || patch.maxX == columns - 1 || patch.maxY == rows - 1
    }
}
