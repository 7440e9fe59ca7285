import Archive
import Foundation
import Logging
import ServiceLifecycle

/// Publishes alert events of the event log (/api/events) to an MQTT broker as they are written:
/// topic `loupe/alerts/{topic}/{PatientID}`, payload the event's JSON. At least once: the last
/// event the broker took is kept in DATA/mqtt-cursor, so a restart (or a broker that was away)
/// sends what was missed, in order.
struct AlertPublisher: Service {
    static let topics: Set<String> = ["flush"]
    let archive: Archive
    let client: MQTTClient
    let cursorFile: URL
    let logger: Logger

    func run() async throws {
        var cursor = readCursor()
        var saved = cursor
        var waiting = false
        logger.info("publishing alerts to MQTT", metadata: [
            "broker": "\(client.configuration.host):\(client.configuration.port)", "after_event": "\(cursor)"])
        while !Task.isShuttingDownGracefully {
            do {
                let after = cursor
                let page = try await Task.detached { [archive] in try archive.events(after: after, topics: Self.topics) }.value
                for event in page.events {
                    try client.publish(topic: Self.mqttTopic(event), payload: Array(event.payload.utf8))
                    cursor = event.sequence
                }
                cursor = max(cursor, page.through)
                if waiting {
                    logger.notice("MQTT alerts flowing again", metadata: ["through_event": "\(cursor)"])
                    waiting = false
                }
            } catch {
                if !waiting {
                    logger.warning("MQTT alerts wait for the broker", metadata: ["error": "\(error)"])
                    waiting = true
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
            if cursor != saved {
                writeCursor(cursor)
                saved = cursor
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(200)) }
        }
        client.stop()
    }

    static func mqttTopic(_ event: StoredEvent) -> String {
        let payload = (try? JSONSerialization.jsonObject(with: Data(event.payload.utf8))) as? [String: Any]
        let patient = payload?["PatientID"] as? String ?? ""
        return "loupe/alerts/\(MQTTClient.topicLevel(event.topic))/\(MQTTClient.topicLevel(patient))"
    }

    /// Where publishing resumes: the saved cursor, or (first start) the newest event, so that a new
    /// broker is not flooded with history.
    private func readCursor() -> Int64 {
        if let text = try? String(contentsOf: cursorFile, encoding: .utf8), let saved = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return saved
        }
        let newest = (try? archive.lastEventSequence()) ?? 0
        writeCursor(newest)
        return newest
    }

    private func writeCursor(_ cursor: Int64) {
        do {
            try Data("\(cursor)\n".utf8).write(to: cursorFile, options: .atomic)
        } catch {
            logger.error("cannot save the MQTT cursor", metadata: ["error": "\(error)", "file": "\(cursorFile.path)"])
        }
    }
}
