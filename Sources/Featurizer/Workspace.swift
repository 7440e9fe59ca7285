import COpenBLAS

/// The buffers of one forward pass, allocated once and reused: activations ping-pong between four
/// buffers sized for the largest layer (112×112×96); the stem's im2col matrix has its own.
final class Workspace: @unchecked Sendable {
    static let activationCount = 112 * 112 * 96
    let buffers: [UnsafeMutablePointer<Float>]
    let columns: UnsafeMutablePointer<Float>

    init() {
        buffers = (0..<4).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: Self.activationCount) }
        columns = UnsafeMutablePointer<Float>.allocate(capacity: 112 * 112 * 27)
    }

    deinit {
        buffers.forEach { $0.deallocate() }
        columns.deallocate()
    }

    func run(_ net: EfficientNetLite0, _ rgb: [UInt8]) -> [Float] {
        var size = EfficientNetLite0.inputSize
        // Stem: 3×3 stride 2, TF SAME padding (nothing before, one after), as im2col + GEMM.
        let out = size / 2
        rgb.withUnsafeBufferPointer { pixels in
            var row = columns
            for oy in 0..<out {
                for ox in 0..<out {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = oy * 2 + ky, ix = ox * 2 + kx
                            if iy < size && ix < size {
                                let p = (iy * size + ix) * 3
                                row[0] = (Float(pixels[p]) - 127) / 128
                                row[1] = (Float(pixels[p + 1]) - 127) / 128
                                row[2] = (Float(pixels[p + 2]) - 127) / 128
                            } else {
                                row[0] = 0; row[1] = 0; row[2] = 0
                            }
                            row += 3
                        }
                    }
                }
            }
        }
        size = out
        // The block input lives in buffers[current]; the other three take the expansion, the
        // depthwise output and the projection, which becomes the next block's input.
        var current = 0
        pointwise(columns, pixels: size * size, net.stem, into: buffers[current], relu6: true)
        for block in net.blocks {
            let input = buffers[current]
            let expanded = buffers[(current + 1) % 4], filtered = buffers[(current + 2) % 4]
            let projected = (current + 3) % 4
            var depthwiseInput = input
            if let expand = block.expand {
                pointwise(input, pixels: size * size, expand, into: expanded, relu6: true)
                depthwiseInput = expanded
            }
            let next = (size + block.depthwise.stride - 1) / block.depthwise.stride
            depthwise(depthwiseInput, size: size, block.depthwise, into: filtered, outputSize: next)
            pointwise(filtered, pixels: next * next, block.project, into: buffers[projected], relu6: false)
            if block.residual {
                let output = buffers[projected]
                for i in 0..<(next * next * block.project.outputs) { output[i] += input[i] }
            }
            size = next
            current = projected
        }
        let x = buffers[current]
        let headOut = buffers[(current + 1) % 4]
        pointwise(x, pixels: size * size, net.head, into: headOut, relu6: true)
        var pooled = [Float](repeating: 0, count: net.head.outputs)
        let pixels = size * size
        for p in 0..<pixels {
            let row = headOut + p * net.head.outputs
            for c in 0..<net.head.outputs { pooled[c] += row[c] }
        }
        let scale = 1 / Float(pixels)
        for c in pooled.indices { pooled[c] *= scale }
        return pooled
    }

    /// Y[pixels][Cout] = X[pixels][Cin] · W[Cin][Cout] + bias, then ReLU6 if asked.
    private func pointwise(_ input: UnsafeMutablePointer<Float>, pixels: Int, _ layer: EfficientNetLite0.Pointwise,
                           into output: UnsafeMutablePointer<Float>, relu6: Bool) {
        let n = layer.outputs
        layer.bias.withUnsafeBufferPointer { bias in
            for p in 0..<pixels { (output + p * n).update(from: bias.baseAddress!, count: n) }
        }
        layer.weights.withUnsafeBufferPointer { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(pixels), Int32(n), Int32(layer.inputs),
                        1, input, Int32(layer.inputs), w.baseAddress, Int32(n), 1, output, Int32(n))
        }
        if relu6 { clampReLU6(output, count: pixels * n) }
    }

    /// Depthwise k×k convolution with TF SAME padding (the odd pixel of padding goes after).
    private func depthwise(_ input: UnsafeMutablePointer<Float>, size: Int, _ layer: EfficientNetLite0.Depthwise,
                           into output: UnsafeMutablePointer<Float>, outputSize: Int) {
        let k = layer.kernel, s = layer.stride, c = layer.channels
        let total = max((outputSize - 1) * s + k - size, 0)
        let before = total / 2
        layer.weights.withUnsafeBufferPointer { weights in
            layer.bias.withUnsafeBufferPointer { bias in
                let w = weights.baseAddress!, b = bias.baseAddress!
                for oy in 0..<outputSize {
                    for ox in 0..<outputSize {
                        let out = output + (oy * outputSize + ox) * c
                        out.update(from: b, count: c)
                        for ky in 0..<k {
                            let iy = oy * s + ky - before
                            if iy < 0 || iy >= size { continue }
                            for kx in 0..<k {
                                let ix = ox * s + kx - before
                                if ix < 0 || ix >= size { continue }
                                let inp = input + (iy * size + ix) * c
                                let wk = w + (ky * k + kx) * c
                                for ch in 0..<c { out[ch] += inp[ch] * wk[ch] }
                            }
                        }
                    }
                }
            }
        }
        clampReLU6(output, count: outputSize * outputSize * c)
    }

    private func clampReLU6(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] = min(max(values[i], 0), 6) }
    }
}
