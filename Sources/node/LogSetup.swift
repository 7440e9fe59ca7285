import Foundation
import Logging

/// Bootstraps swift-log once: text (key=value metadata) or one JSON object per line, on stderr.
enum LogSetup {
    static func bootstrap(level: String, format: String) {
        let logLevel = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: LogHandler = format == "json"
                ? JSONLogHandler(label: label)
                : StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }
}

/// One JSON object per log line: time, level, label, message and the metadata as fields.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [
            "time": ISO8601DateFormatter().string(from: Date()),
            "level": event.level.rawValue,
            "label": label,
            "message": event.message.description,
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = value.description
        }
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}
