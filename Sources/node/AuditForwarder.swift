import Access
import Archive
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// Where the audit trail is forwarded: a syslog collector (an ATNA audit record repository) over
/// TLS (RFC 5425), Loupe authenticating with its certificate (mutual TLS).
struct SyslogConfiguration: Sendable, Equatable {
    var host: String
    var port: Int
    var caFile: String
    var certificateFile: String
    var privateKeyFile: String
    /// AuditEnterpriseSiteID of the messages.
    var site: String?
}

/// Follows the audit table and sends each entry, as a DICOM Audit Message in an RFC 5424 frame, to
/// the collector. The last entry sent is kept in DATA/audit-syslog-cursor, so entries written while
/// the collector was away (or the node was down) are sent when it is back. Syslog over TLS has no
/// acknowledgement: entries on a connection that breaks before the collector read them are not
/// sent again (they stay in the index).
struct AuditForwarder: Service {
    let archive: Archive
    let configuration: SyslogConfiguration
    let source: AuditMessage.Source
    let cursorFile: URL
    let logger: Logger

    static let batch = 200
    static let idle: Duration = .seconds(1)

    func run() async throws {
        let tls = try makeTLSContext()
        var cursor = readCursor()
        var channel: (any Channel)?
        var backoff: Duration = .seconds(1)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let after = cursor
            let archive = self.archive
            let read = await Task.detached { Result { () throws(AccessRecordError) in try archive.audit(AuditFilter(after: after, limit: Self.batch)) } }.value
            if case .failure(let error) = read { logger.error("cannot read the audit trail to forward it", metadata: ["reason": "\(error)"]) }
            let entries = (try? read.get()) ?? []
            if entries.isEmpty {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.idle) }
                continue
            }
            do {
                if channel == nil || channel?.isActive == false { channel = try await connect(tls) }
                var buffer = ByteBuffer()
                for entry in entries { buffer.writeBytes(AuditMessage(entry, source: source).syslogFrame()) }
                try await channel!.writeAndFlush(buffer)
                cursor = entries.last!.sequence
                writeCursor(cursor)
                backoff = .seconds(1)
            } catch {
                logger.warning("audit collector unreachable; retrying", metadata: [
                    "collector": "\(configuration.host):\(configuration.port)", "reason": "\(error)", "retry_in": "\(backoff)"])
                try? await channel?.close()
                channel = nil
                let wait = backoff
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                backoff = min(backoff * 2, .seconds(30))
            }
        }
        try? await channel?.close()
    }

    private func makeTLSContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .file(configuration.caFile)
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(configuration.certificateFile).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: configuration.privateKeyFile, format: .pem))
        return try NIOSSLContext(configuration: tls)
    }

    private func connect(_ tls: NIOSSLContext) async throws -> any Channel {
        let host = configuration.host
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // An IP address is checked against the certificate's IP names by NIOSSL itself.
                    let handler = try NIOSSLClientHandler(context: tls, serverHostname: Exposure.isIPAddress(host) ? nil : host)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: configuration.port).get()
        logger.info("audit collector connected", metadata: ["collector": "\(host):\(configuration.port)"])
        return channel
    }

    private func readCursor() -> Int64 {
        (try? String(contentsOf: cursorFile, encoding: .utf8)).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    }

    private func writeCursor(_ sequence: Int64) {
        do {
            try Data("\(sequence)\n".utf8).write(to: cursorFile, options: .atomic)
        } catch {
            logger.error("cannot keep the audit forwarding cursor", metadata: ["reason": "\(error)"])
        }
    }
}
