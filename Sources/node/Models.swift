import Featurizer
import Foundation

/// Where the node finds its model weights (converted by `make model`, not committed).
enum Models {
    static let weightsFileName = "efficientnet-lite0.weights"

    /// `configured` if given; else `models/efficientnet-lite0.weights` under the working directory
    /// or under a directory above the executable (a build in `.build/<triple>/<configuration>/`).
    static func weightsURL(configured: String?) -> URL {
        if let configured { return URL(fileURLWithPath: configured).standardizedFileURL }
        let relative = "models/\(weightsFileName)"
        var candidates = [URL(fileURLWithPath: relative).standardizedFileURL]
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent(relative))
            directory = directory.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
    }

    /// The embedder over the weights at `url`, or why it cannot be loaded.
    static func embedder(weights url: URL) -> Result<Embedder, FeaturizerError> {
        guard FileManager.default.fileExists(atPath: url.path) else {
            return .failure(FeaturizerError("no model weights at \(url.path): run `make model` or set similarity.model"))
        }
        return Result { () throws(FeaturizerError) in Embedder(network: try EfficientNetLite0(weights: url)) }
    }
}
