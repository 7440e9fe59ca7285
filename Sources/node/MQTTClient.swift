import CMosquitto
import Foundation
import Synchronization

/// Where alerts go besides /api/events (configuration key `mqtt`).
struct MQTTConfiguration: Sendable, Equatable {
    var host: String
    var port: Int
    var clientID: String
    var username: String?
    var password: String?
}

struct MQTTError: Error, CustomStringConvertible {
    let description: String
    init(_ what: String, _ code: Int32) { description = "\(what): \(String(cString: mosquitto_strerror(code)))" }
}

/// A libmosquitto client with its own network thread: it connects, reconnects whenever the
/// connection is lost or the broker is not there yet (after 1 s, backing off to 30 s), and publishes
/// at QoS 1 (the broker acknowledges each message).
final class MQTTClient: @unchecked Sendable {
    private let handle: OpaquePointer
    let configuration: MQTTConfiguration
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    private static let library: Void = { mosquitto_lib_init() }()

    init(_ configuration: MQTTConfiguration) throws {
        _ = Self.library
        self.configuration = configuration
        guard let handle = mosquitto_new(configuration.clientID, true, nil) else { throw MQTTError("cannot create an MQTT client", MOSQ_ERR_NOMEM.rawValue) }
        self.handle = handle
        mosquitto_threaded_set(handle, true)  // published from other threads than the network loop's
        if let username = configuration.username {
            let status = mosquitto_username_pw_set(handle, username, configuration.password)
            guard status == MOSQ_ERR_SUCCESS.rawValue else { mosquitto_destroy(handle); throw MQTTError("MQTT credentials", status) }
        }
        let thread = Thread { [self] in run() }
        thread.name = "loupe-mqtt"
        thread.start()
    }

    /// The network loop: connect (again) when not connected, else move packets.
    private func run() {
        var connected = false, everConnected = false
        var delay = 1.0
        while !stopping.load(ordering: .relaxed) {
            if !connected {
                let status = everConnected ? mosquitto_reconnect(handle)
                    : mosquitto_connect(handle, configuration.host, Int32(configuration.port), 30)
                if status == MOSQ_ERR_SUCCESS.rawValue {
                    (connected, everConnected, delay) = (true, true, 1)
                } else {
                    // Sleep in short steps, so that stopping is not held up.
                    let until = Date(timeIntervalSinceNow: delay)
                    while Date() < until, !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.1) }
                    delay = min(30, delay * 2)
                    continue
                }
            }
            if mosquitto_loop(handle, 200, 1) != MOSQ_ERR_SUCCESS.rawValue { connected = false }
        }
        mosquitto_disconnect(handle)
        stopped.signal()
    }

    /// Queues a message for the broker; throws when the client is not connected (try again later).
    func publish(topic: String, payload: [UInt8]) throws(MQTTError) {
        let status = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, nil, topic, Int32(bytes.count), bytes.baseAddress, 1, false)
        }
        guard status == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("cannot publish to \(topic)", status) }
    }

    /// Disconnects and stops the network thread.
    func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        stopped.wait()
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
    }

    /// A topic level made of free text: MQTT's separators and wildcards (`/`, `+`, `#`) and `%` are
    /// percent-encoded, so a patient ID cannot address another topic.
    static func topicLevel(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "%") || byte == 0 {
                out += String(format: "%%%02X", byte)
            } else {
                out += String(decoding: [byte], as: UTF8.self)
            }
        }
        return out.isEmpty ? "_" : out
    }
}
