import CMosquitto
import Foundation

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

/// A libmosquitto client on its own network thread: connects in the background, reconnects after a
/// lost connection (1 s, backing off to 30 s), publishes at QoS 1 (the broker acknowledges; unacknowledged
/// messages are sent again after a reconnect).
final class MQTTClient: @unchecked Sendable {
    private let handle: OpaquePointer
    let configuration: MQTTConfiguration

    private static let library: Void = { mosquitto_lib_init() }()

    init(_ configuration: MQTTConfiguration) throws {
        _ = Self.library
        self.configuration = configuration
        guard let handle = mosquitto_new(configuration.clientID, true, nil) else { throw MQTTError("cannot create an MQTT client", MOSQ_ERR_NOMEM.rawValue) }
        self.handle = handle
        if let username = configuration.username {
            let status = mosquitto_username_pw_set(handle, username, configuration.password)
            guard status == MOSQ_ERR_SUCCESS.rawValue else { mosquitto_destroy(handle); throw MQTTError("MQTT credentials", status) }
        }
        mosquitto_reconnect_delay_set(handle, 1, 30, true)
        var status = mosquitto_connect_async(handle, configuration.host, Int32(configuration.port), 30)
        // A broker that is not up yet is not fatal: the network thread keeps trying.
        if status != MOSQ_ERR_SUCCESS.rawValue && status != MOSQ_ERR_ERRNO.rawValue {
            mosquitto_destroy(handle)
            throw MQTTError("cannot connect to MQTT broker \(configuration.host):\(configuration.port)", status)
        }
        status = mosquitto_loop_start(handle)
        guard status == MOSQ_ERR_SUCCESS.rawValue else { mosquitto_destroy(handle); throw MQTTError("cannot start the MQTT thread", status) }
    }

    /// Queues a message for the broker; throws when the client is not connected (try again later).
    func publish(topic: String, payload: [UInt8]) throws(MQTTError) {
        let status = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, nil, topic, Int32(bytes.count), bytes.baseAddress, 1, false)
        }
        guard status == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("cannot publish to \(topic)", status) }
    }

    deinit {
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
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
