import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// The slowest request body the node waits for, in the manner of Apache's mod_reqtimeout
/// (`body=20,MinRate=500`): a body must arrive within `graceSeconds`, extended by one second for
/// every `bytesPerSecond` bytes received. The idle timeout alone would let a client that sends a
/// byte every few seconds hold its connection for as long as its Content-Length lasts.
public struct BodyRate: Sendable, Equatable {
    public var graceSeconds: Int
    /// 0: no minimum (only the idle timeout applies).
    public var bytesPerSecond: Int

    public init(graceSeconds: Int = 20, bytesPerSecond: Int = 500) {
        self.graceSeconds = graceSeconds
        self.bytesPerSecond = bytesPerSecond
    }
}

/// Closes a connection whose request body arrives slower than its `BodyRate`, answering 408 with a
/// message when no response has begun. It sits between HTTP decoding and Hummingbird, one per
/// connection, so it sees each request's parts as they arrive and each response as it leaves.
final class BodyRateHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let rate: BodyRate
    private let logger: Logger
    /// The body being received: when its head arrived and how many bytes came since.
    private var body: (started: NIODeadline, received: Int)?
    private var check: Scheduled<Void>?
    /// A response to the current request has begun (a 408 cannot be sent any more).
    private var responding = false

    init(rate: BodyRate, logger: Logger) {
        self.rate = rate
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            responding = false
            if rate.bytesPerSecond > 0, Self.hasBody(head) {
                body = (.now(), 0)
                schedule(context)
            }
        case .body(let buffer):
            body?.received += buffer.readableBytes
        case .end:
            stop()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head = unwrapOutboundIn(data) { responding = true }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private static func hasBody(_ head: HTTPRequest) -> Bool {
        head.headerFields[.transferEncoding] != nil || head.headerFields[.contentLength].flatMap(Int.init).map { $0 > 0 } == true
    }

    /// When the body received so far must have grown by.
    private func deadline(_ body: (started: NIODeadline, received: Int)) -> NIODeadline {
        // In floating point: a terabyte body's bytes times 10^9 overflow Int64. Capped at 30 years.
        let earned = min(Double(body.received) / Double(rate.bytesPerSecond), 1e9)
        return body.started + .seconds(Int64(rate.graceSeconds)) + .nanoseconds(Int64(earned * 1e9))
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard let body else { return }
        check?.cancel()
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline(body)) { [self] in
            guard let body = self.body else { return }
            if deadline(body) > .now() {
                schedule(context)
            } else {
                timeOut(context, body.received)
            }
        }
    }

    private func timeOut(_ context: ChannelHandlerContext, _ received: Int) {
        stop()
        let message = "the request body arrived slower than \(rate.bytesPerSecond) bytes a second (\(received) bytes received)"
        logger.info("request body too slow; closing the connection", metadata: ["received": "\(received)",
                                                                                 "min_rate": "\(rate.bytesPerSecond)"])
        guard !responding else {
            context.close(promise: nil)
            return
        }
        let text = ByteBuffer(string: message + "\n")
        let head = HTTPResponse(status: .requestTimeout, headerFields: [
            .contentType: "text/plain; charset=utf-8", .contentLength: "\(text.readableBytes)", .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(text)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func stop() {
        body = nil
        check?.cancel()
        check = nil
    }
}
