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
    let code: Int32
    init(_ what: String, _ code: Int32) {
        description = "\(what): \(String(cString: mosquitto_strerror(code)))"
        self.code = code
    }

    /// The message itself is wrong (its topic or size): sending it again cannot work.
    var isPermanent: Bool {
        [MOSQ_ERR_INVAL, MOSQ_ERR_MALFORMED_UTF8, MOSQ_ERR_PAYLOAD_SIZE, MOSQ_ERR_OVERSIZE_PACKET].map(\.rawValue).contains(code)
    }
}

/// What libmosquitto's callbacks report, read by the publisher: whether the broker has accepted
/// the connection (CONNACK), and the messages it has acknowledged (PUBACK).
final class MQTTSession: Sendable {
    let connected = Atomic<Bool>(false)
    private let acknowledged = Mutex<Set<Int32>>([])

    func acknowledge(_ mid: Int32) { acknowledged.withLock { _ = $0.insert(mid) } }
    func takeAcknowledged() -> Set<Int32> { acknowledged.withLock { set in defer { set = [] }; return set } }
}

private func mqttSession(_ pointer: UnsafeMutableRawPointer?) -> MQTTSession? {
    pointer.map { Unmanaged<MQTTSession>.fromOpaque($0).takeUnretainedValue() }
}

/// A libmosquitto client with its own network thread: it connects, and reconnects whenever the
/// connection is lost, refused or not possible yet, waiting 1 s and backing off to 30 s between
/// attempts. Messages go out at QoS 1 and only while the broker has the connection; `session`
/// says which it has acknowledged.
final class MQTTClient: @unchecked Sendable {
    private let handle: OpaquePointer
    let configuration: MQTTConfiguration
    let session = MQTTSession()
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    private var started = false

    private static let library: Void = { mosquitto_lib_init() }()

    init(_ configuration: MQTTConfiguration) throws {
        _ = Self.library
        self.configuration = configuration
        guard let handle = mosquitto_new(configuration.clientID, true, Unmanaged.passUnretained(session).toOpaque()) else {
            throw MQTTError("cannot create an MQTT client", MOSQ_ERR_NOMEM.rawValue)
        }
        self.handle = handle  // destroyed by deinit, also when init throws from here on
        mosquitto_threaded_set(handle, true)  // published from other threads than the network loop's
        if let username = configuration.username {
            let status = mosquitto_username_pw_set(handle, username, configuration.password)
            guard status == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("MQTT credentials", status) }
        }
        mosquitto_connect_callback_set(handle) { _, pointer, code in mqttSession(pointer)?.connected.store(code == 0, ordering: .relaxed) }
        mosquitto_disconnect_callback_set(handle) { _, pointer, _ in mqttSession(pointer)?.connected.store(false, ordering: .relaxed) }
        mosquitto_publish_callback_set(handle) { _, pointer, mid in mqttSession(pointer)?.acknowledge(mid) }
        let thread = Thread { [self] in run() }
        thread.name = "loupe-mqtt"
        thread.start()
        started = true
    }

    /// The network loop: (re)connect, move packets until the connection ends, wait, again.
    private func run() {
        var everConnected = false
        var delay = 1.0
        while !stopping.load(ordering: .relaxed) {
            let status = everConnected ? mosquitto_reconnect(handle) : mosquitto_connect(handle, configuration.host, Int32(configuration.port), 30)
            if status == MOSQ_ERR_SUCCESS.rawValue {
                everConnected = true
                let since = Date()
                while !stopping.load(ordering: .relaxed), mosquitto_loop(handle, 200, 1) == MOSQ_ERR_SUCCESS.rawValue {}
                session.connected.store(false, ordering: .relaxed)
                if Date().timeIntervalSince(since) > 30 { delay = 1 }  // a connection that held: start the back-off again
            }
            guard !stopping.load(ordering: .relaxed) else { break }
            let until = Date(timeIntervalSinceNow: delay)  // in short steps, so that stopping is not held up
            while Date() < until, !stopping.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.1) }
            delay = min(30, delay * 2)
        }
        // Let what is queued go out (and its acknowledgements come back) before saying goodbye.
        let until = Date(timeIntervalSinceNow: 0.5)
        while session.connected.load(ordering: .relaxed), Date() < until, mosquitto_loop(handle, 50, 1) == MOSQ_ERR_SUCCESS.rawValue {}
        mosquitto_disconnect(handle)
        stopped.signal()
    }

    /// Sends a message at QoS 1 and returns its id (`session` reports its acknowledgement); throws
    /// when the broker does not have the connection, so nothing piles up in the client meanwhile.
    func publish(topic: String, payload: [UInt8]) throws(MQTTError) -> Int32 {
        guard session.connected.load(ordering: .relaxed) else { throw MQTTError("not connected to the broker", MOSQ_ERR_NO_CONN.rawValue) }
        var mid: Int32 = 0
        let status = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, 1, false)
        }
        guard status == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError("cannot publish to \(topic)", status) }
        return mid
    }

    /// Disconnects and stops the network thread.
    func stop() {
        guard started, !stopping.exchange(true, ordering: .relaxed) else { return }
        stopped.wait()
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
    }

    /// A topic level made of free text: MQTT's separators and wildcards (`/`, `+`, `#`), `%`, spaces,
    /// control characters and anything beyond ASCII are percent-encoded (UTF-8 bytes), so a patient
    /// ID can neither address another topic nor make the topic invalid.
    static func topicLevel(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#")
                || byte == UInt8(ascii: "%") {
                out += String(format: "%%%02X", byte)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out.isEmpty ? "_" : out
    }
}
