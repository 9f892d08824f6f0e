import NIOCore
import RaftTLS

/// The last handler of an outbound peer connection, after the `LengthPrefixedFrameDecoder`:
/// forwards frames, writability changes, errors and closure to the `OutboundPeerConnection`
/// that owns the channel (both live on the channel's event loop).
final class OutboundEnvelopeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: OutboundPeerConnection

    init(connection: OutboundPeerConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.frameReceived(unwrapInboundIn(data), on: context.channel)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let peer = event as? TLSPeerAuthenticated {
            connection.authenticated(peer, on: context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(on: context.channel)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.connectionError(error, on: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.channelClosed(context.channel)
        context.fireChannelInactive()
    }
}
