import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An association request written byte by byte (PS3.8 9.3.2), to hold an association open and to
/// read the exact A-ASSOCIATE-AC/RJ the node answers.
final class RawAssociation {
    private let socket: Int32

    enum Answer: Equatable {
        case accepted
        /// A-ASSOCIATE-RJ: result, source, reason (PS3.8 Table 9-21).
        case rejected(result: UInt8, source: UInt8, reason: UInt8)
        case closed
    }

    init(port: UInt16) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(socket) }

    func request(calling: String, called: String) throws -> Answer {
        func ae(_ s: String) -> [UInt8] { Array(s.utf8.prefix(16)) + Array(repeating: 0x20, count: max(0, 16 - s.utf8.count)) }
        func item(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body }
        let applicationContext = item(0x10, Array("1.2.840.10008.3.1.1.1".utf8))
        let presentation = item(0x20, [1, 0, 0, 0] + item(0x30, Array("1.2.840.10008.1.1".utf8)) + item(0x40, Array("1.2.840.10008.1.2".utf8)))
        let userInfo = item(0x50, item(0x51, [0, 0, 0x40, 0]) + item(0x52, Array("1.2.3.4".utf8)))
        var body: [UInt8] = [0, 1, 0, 0] + ae(called) + ae(calling) + Array(repeating: 0, count: 32)
        body += applicationContext + presentation + userInfo
        let length = UInt32(body.count)
        let pdu: [UInt8] = [0x01, 0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
        _ = pdu.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
        var header = [UInt8](repeating: 0, count: 10)
        let n = header.withUnsafeMutableBytes { recv(socket, $0.baseAddress, 10, Int32(MSG_WAITALL)) }
        guard n == 10 else { return .closed }
        switch header[0] {
        case 0x02: return .accepted
        case 0x03: return .rejected(result: header[7], source: header[8], reason: header[9])
        default: return .closed
        }
    }
}
