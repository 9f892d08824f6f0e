import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP relay standing for one directed network link between two members: the sender's
/// outbound connection to the receiver goes through it. Cutting the link closes its
/// connections and refuses new ones, so a partition is real TCP behaviour, not a simulation.
public final class LinkProxy: Sendable {
    private let server: any Channel
    private let cut = NIOLockedValueBox(false)
    private let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    /// The loopback port the sender dials instead of the receiver's.
    public let port: Int

    private init(server: any Channel, port: Int) {
        self.server = server
        self.port = port
    }

    /// A relay on a fresh loopback port to `targetPort`.
    public static func start(to targetPort: Int, group: any EventLoopGroup) async throws -> LinkProxy {
        let box = NIOLockedValueBox<LinkProxy?>(nil)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                guard let proxy = box.withLockedValue({ $0 }), !proxy.isCut else {
                    return inbound.close()
                }
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        proxy.track(inbound)
                        proxy.track(outbound)
                        // Both channels live on the inbound's event loop; the inbound side
                        // starts reading only once this initializer is done.
                        return inbound.eventLoop.makeCompletedFuture {
                            try inbound.pipeline.syncOperations.addHandler(Relay(peer: outbound))
                            try outbound.pipeline.syncOperations.addHandler(Relay(peer: inbound))
                        }
                    }
                    .flatMapError { _ in inbound.close() }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let proxy = LinkProxy(server: server, port: server.localAddress!.port!)
        box.withLockedValue { $0 = proxy }
        return proxy
    }

    public var isCut: Bool { cut.withLockedValue { $0 } }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        open.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.open.withLockedValue { $0.removeValue(forKey: id) } }
    }

    /// Drops the link: existing connections close, new ones are refused.
    public func sever() {
        cut.withLockedValue { $0 = true }
        for channel in open.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }

    public func heal() { cut.withLockedValue { $0 = false } }

    public func close() async {
        sever()
        try? await server.close()
    }
}

/// Copies every byte read on one channel to its peer, and closes the peer when it ends.
private final class Relay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let peer: any Channel

    init(peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.writeAndFlush(Self.unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
