import Foundation

/// A tensor of the converted weight file (float32, row-major).
struct Tensor: Sendable {
    let shape: [Int]
    let values: [Float]
}

/// Why the model could not be loaded or run.
public struct FeaturizerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads Loupe's weight file (`scripts/model/efficientnet.py` writes it): magic `LOUPEW01`, u32
/// count, then per tensor u16 name length, name, u8 rank, u32 dims, float32 values (little endian).
enum WeightFile {
    static let magic = Array("LOUPEW01".utf8)

    static func read(_ url: URL) throws(FeaturizerError) -> [String: Tensor] {
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: url, options: .alwaysMapped))
        } catch {
            throw FeaturizerError("cannot read the model weights \(url.path): \(error.localizedDescription) (run `make model`)")
        }
        var offset = 0
        func take(_ count: Int) throws(FeaturizerError) -> ArraySlice<UInt8> {
            guard count >= 0, offset + count <= bytes.count else { throw FeaturizerError("\(url.path) is truncated") }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }
        func integer(_ size: Int) throws(FeaturizerError) -> Int {
            try take(size).reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        guard Array(try take(magic.count)) == magic else { throw FeaturizerError("\(url.path) is not a Loupe weight file") }
        var tensors: [String: Tensor] = [:]
        for _ in 0..<(try integer(4)) {
            let name = String(decoding: try take(try integer(2)), as: UTF8.self)
            var shape: [Int] = []
            for _ in 0..<(try integer(1)) { shape.append(try integer(4)) }
            let count = shape.reduce(1, *)
            let raw = try take(count * 4)
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                var p = raw.startIndex
                for i in 0..<count {
                    let word = UInt32(raw[p]) | UInt32(raw[p + 1]) << 8 | UInt32(raw[p + 2]) << 16 | UInt32(raw[p + 3]) << 24
                    buffer[i] = Float(bitPattern: word)
                    p += 4
                }
                initialized = count
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return tensors
    }
}
