import Logging
import NIOCore
import RaftMessages
import RaftWire

/// One connection accepted by the peer server, as the response path sees it: where the node's
/// responses to requests that came in on it are written (with the request's envelope id).
///
/// Threading: `sendResponse` may be called from any thread; it hops to the channel's event loop,
/// where the codec and the pending-write accounting live (`NIOLoopBound`).
final class InboundConnection: Sendable {
    let channel: any Channel
    private let context: TransportContext
    private let state: NIOLoopBoundBox<WriterState>

    /// Loop-confined: the codec and what has been written but not yet taken by the kernel.
    final class WriterState {
        let codec = WireCodec()
        var pendingMessages = 0
        var pendingBytes = 0
    }

    /// Must be called on the channel's event loop.
    init(channel: any Channel, context: TransportContext) {
        self.channel = channel
        self.context = context
        self.state = NIOLoopBoundBox(WriterState(), eventLoop: channel.eventLoop)
    }

    /// Writes `body` as the response with envelope id `id` to `peer`. Dropped and counted when the
    /// connection has closed, or when the peer does not read its responses and the connection's
    /// unwritten responses are at the `queueLimits` bound.
    func sendResponse(_ body: RaftMessage, id: UInt64, to peer: UInt64) {
        channel.eventLoop.execute {
            self.writeOnLoop(body, id: id, to: peer)
        }
    }

    private func writeOnLoop(_ body: RaftMessage, id: UInt64, to peer: UInt64) {
        let rpc = RPCKind(body)
        guard channel.isActive else {
            context.observer.dropped(rpc, isRequest: false, peer: peer, reason: .connectionClosed)
            return
        }
        let writer = state.value
        let limits = context.configuration.queueLimits
        let estimate = context.estimatedFrameSize(of: body)
        guard writer.pendingMessages < limits.maximumMessages, writer.pendingBytes + estimate <= limits.maximumBytes
        else {
            context.observer.dropped(rpc, isRequest: false, peer: peer, reason: .queueFull)
            return
        }
        var buffer = channel.allocator.buffer(capacity: estimate)
        let envelope = Envelope(
            clusterID: context.clusterID, fromID: context.selfID, toID: peer, id: id,
            fromIncarnation: context.configuration.selfIncarnation, body: body)
        do {
            try writer.codec.encodeFrame(envelope, into: &buffer)
        } catch {
            context.observer.dropped(rpc, isRequest: false, peer: peer, reason: .encodingFailed)
            context.logger.error("cannot encode response", metadata: ["peer": "\(peer)", "error": "\(error)"])
            return
        }
        let bytes = buffer.readableBytes
        guard bytes - 4 <= context.configuration.maximumFrameLength else {
            context.dropOversized(rpc, isRequest: false, bytes: bytes, peer: peer)
            return
        }
        writer.pendingMessages += 1
        writer.pendingBytes += bytes
        context.observer.frameSent(to: peer, rpc: rpc, isRequest: false, bytes: bytes)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenComplete { _ in
            writer.pendingMessages -= 1
            writer.pendingBytes -= bytes
        }
        channel.writeAndFlush(buffer, promise: promise)
    }
}
