import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import RaftTLS

/// The metrics port: `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz` (200
/// while the node runs and knows a leader, else 503 with the reason). It runs on its own event
/// loop and reads only the registry and the node's published status: a scrape never waits for
/// the node loop. With `tls` (`--metrics-cert-file`, `--metrics-key-file`) it serves HTTPS.
public final class MetricsServer: Sendable {
    private let channel: any Channel

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { channel.localAddress }

    /// `health` answers (healthy, reason) for /healthz.
    public static func start(
        host: String, port: Int, metrics: RaftMetrics, group: any EventLoopGroup,
        tls: TLSEndpoint? = nil, health: @escaping @Sendable () -> EventLoopFuture<(Bool, String)>
    ) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try tls.addServerHandlers(to: channel) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, health: health))
                }
            }
            .bind(host: host, port: port)
            .get()
        return MetricsServer(channel: channel)
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    public func close() async throws {
        try await channel.close()
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: RaftMetrics
    private let health: @Sendable () -> EventLoopFuture<(Bool, String)>
    private var request: HTTPRequestHead?

    init(metrics: RaftMetrics, health: @escaping @Sendable () -> EventLoopFuture<(Bool, String)>) {
        self.metrics = metrics
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        guard head.method == .GET || head.method == .HEAD else {
            return respond(context, head, .methodNotAllowed, "text/plain; charset=utf-8", Array("GET only\n".utf8))
        }
        switch path {
        case "/metrics":
            respond(context, head, .ok, "text/plain; version=0.0.4; charset=utf-8", metrics.render())
        case "/healthz":
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            health().hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success((true, let reason)):
                    handler.respond(context, head, .ok, "text/plain; charset=utf-8", Array("ok: \(reason)\n".utf8))
                case .success((false, let reason)):
                    handler.respond(context, head, .serviceUnavailable, "text/plain; charset=utf-8", Array("unhealthy: \(reason)\n".utf8))
                case .failure(let error):
                    handler.respond(context, head, .serviceUnavailable, "text/plain; charset=utf-8", Array("unhealthy: \(error)\n".utf8))
                }
            }
        default:
            respond(context, head, .notFound, "text/plain; charset=utf-8", Array("not found; try /metrics or /healthz\n".utf8))
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ contentType: String,
        _ body: [UInt8]
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
