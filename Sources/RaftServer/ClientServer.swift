import Logging
import NIOCore
import NIOPosix
import RaftMessages
import RaftTLS
import RaftWire

/// The client port: a TCP server speaking length-prefixed `ClientRequest` / `ClientResponse`
/// frames (proto/kv.proto). Clients may pipeline; answers are written as they complete, so they
/// can come out of order (matched by `request_id`). A bad frame or undecodable request is
/// counted, logged, and closes that connection only.
///
/// With `tls`, connections are TLS from the first byte; when its credentials name a trusted CA
/// (`--trusted-ca-file`), a client without a certificate signed by it fails the handshake. Any
/// certificate of that CA may use the port (as etcd's client port does); the certificate
/// authenticates, it does not authorize.
public final class ClientServer: Sendable {
    private let channel: any Channel

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel) {
        self.channel = channel
    }

    public static func start(
        host: String, port: Int, service: ClientService, group: any EventLoopGroup, logger: Logger,
        maximumFrameLength: UInt32 = defaultMaximumFrameLength, tls: TLSEndpoint? = nil
    ) async throws -> ClientServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try tls.addServerHandlers(to: channel) }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LengthPrefixedFrameDecoder(maximumFrameLength: maximumFrameLength)))
                    try channel.pipeline.syncOperations.addHandler(
                        ClientConnectionHandler(service: service, logger: logger))
                }
            }
            .bind(host: host, port: port)
            .get()
        return ClientServer(channel: channel)
    }

    public func close() async throws {
        try await channel.close()
    }
}

/// One client connection: decode each frame, hand it to the service, write each answer framed.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let service: ClientService
    private let logger: Logger
    private let codec = WireCodec()

    init(service: ClientService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        let request: ClientRequest
        do {
            request = try codec.decodeClientRequest(from: frame)
        } catch {
            reject(context: context, reason: "undecodable request: \(error)")
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        service.handle(request).hop(to: context.eventLoop).whenSuccess { response in
            let (handler, context) = loopBound.value
            handler.write(response, context: context)
        }
    }

    private func write(_ response: ClientResponse, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 + response.value.count)
        do {
            try codec.encodeFrame(response, into: &buffer)
        } catch {
            logger.error("cannot encode a response: \(error)")
            return
        }
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is FrameError {
            reject(context: context, reason: "bad frame: \(error)")
        } else {
            logger.debug("client connection error: \(error)")
            context.close(promise: nil)
        }
    }

    private func reject(context: ChannelHandlerContext, reason: String) {
        service.countMalformedFrame()
        logger.warning("closing client connection from \(context.remoteAddress.map { "\($0)" } ?? "?"): \(reason)")
        context.close(promise: nil)
    }
}
