import Archive
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Publishes alert events of the event log (/api/events) to an MQTT broker as they are written:
/// topic `loupe/alerts/{topic}/{PatientID}`, payload the event's JSON. At least once: the last
/// event the broker acknowledged (and every one before it) is kept in DATA/mqtt-cursor, so a
/// restart, or a broker that was away, sends what it had not taken, in order.
struct AlertPublisher: Service {
    static let topics: Set<String> = ["flush"]
    /// 1 while alerts reach the broker, 0 while they wait for it (`/metrics`).
    static let connected = Gauge(label: "loupe_mqtt_connected")
    static let published = Counter(label: "loupe_mqtt_alerts_published_total")
    let archive: Archive
    let client: MQTTClient
    let cursorFile: URL
    let logger: Logger

    func run() async throws {
        Self.published.increment(by: 0)  // exported as 0 from the start, not only after the first alert
        var ledger = AlertLedger(cursor: readCursor())
        var saved = ledger.acknowledged
        var waiting = false
        logger.info("publishing alerts to MQTT", metadata: [
            "broker": "\(client.configuration.host):\(client.configuration.port)", "after_event": "\(ledger.acknowledged)"])
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let after = ledger.read
                let page = try await Task.detached { [archive] in try archive.events(after: after, topics: Self.topics) }.value
                for event in page.events {
                    switch Result(catching: { () throws(MQTTError) in try client.publish(topic: Self.mqttTopic(event), payload: Array(event.payload.utf8)) }) {
                    case .success(let mid):
                        ledger.sent(mid, event.sequence)
                        Self.published.increment()
                    case .failure(let error) where error.isPermanent:
                        logger.error("an alert cannot be published; skipped", metadata: ["event": "\(event.sequence)", "error": "\(error)"])
                        ledger.sent(nil, event.sequence)
                    case .failure(let error):
                        throw error
                    }
                }
                ledger.read = max(ledger.read, page.through)
                Self.connected.record(1)
                if waiting {
                    logger.notice("MQTT alerts flowing again", metadata: ["through_event": "\(ledger.read)"])
                    waiting = false
                }
            } catch {
                Self.connected.record(0)
                if !waiting {
                    logger.warning("MQTT alerts wait for the broker", metadata: ["error": "\(error)"])
                    waiting = true
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
            saved = settle(&ledger, saved: saved)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(200)) }
        }
        client.stop()
        _ = settle(&ledger, saved: saved)
    }

    /// Moves the ledger over the acknowledgements that came back and saves its cursor when it moved.
    private func settle(_ ledger: inout AlertLedger, saved: Int64) -> Int64 {
        let early = ledger.settle(client.session.takeAcknowledged())
        for mid in early { client.session.acknowledge(mid) }  // of later messages: they wait for the earlier ones
        guard ledger.acknowledged != saved else { return saved }
        writeCursor(ledger.acknowledged)
        return ledger.acknowledged
    }

    static func mqttTopic(_ event: StoredEvent) -> String {
        mqttTopic(event.topic, patient: event.patientID ?? "")
    }

    /// `loupe/alerts/{topic}/{PatientID}`, each level made safe (`MQTTClient.topicLevel`).
    static func mqttTopic(_ topic: String, patient: String) -> String {
        "loupe/alerts/\(MQTTClient.topicLevel(topic))/\(MQTTClient.topicLevel(patient))"
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

/// Which alerts the broker has: events are sent in order, and the cursor passes a sent event once
/// the broker acknowledged it and every one before it.
struct AlertLedger {
    /// Every event up to here is with the broker (or could never be sent).
    private(set) var acknowledged: Int64
    /// Events up to here were read, and sent or skipped.
    var read: Int64
    /// Sent and not yet acknowledged, in order; a nil id: skipped, nothing to wait for.
    private var inFlight: [(mid: Int32?, sequence: Int64)] = []

    init(cursor: Int64) {
        acknowledged = cursor
        read = cursor
    }

    mutating func sent(_ mid: Int32?, _ sequence: Int64) {
        inFlight.append((mid, sequence))
        read = sequence
    }

    /// Takes acknowledgements; returns those of messages still behind an unacknowledged one.
    mutating func settle(_ acknowledgements: Set<Int32>) -> Set<Int32> {
        var acks = acknowledgements
        while let first = inFlight.first {
            if let mid = first.mid {
                guard acks.contains(mid) else { break }
                acks.remove(mid)
            }
            acknowledged = first.sequence
            inFlight.removeFirst()
        }
        if inFlight.isEmpty { acknowledged = read }  // also past events of other topics
        return acks
    }
}
