import Logging
import NIOCore
import RaftCore
import RaftMessages
import RaftTLS
import RaftWire

/// The last handler of a connection accepted by the peer server, after the
/// `LengthPrefixedFrameDecoder`: decodes each frame as a `raft.Envelope`, checks it (see
/// `TransportContext.validate`) and hands valid requests to the node through the
/// `ResponseRouter`.
///
/// Any bad input — a `FrameError` from the decoder, bytes that are not an envelope, a missing
/// body, a foreign `cluster_id`, a `to_id` not ours, a bad `from_id`, a response where only
/// requests may come — is counted, logged and closes this connection only. A member the
/// configuration refuses (removed, or another incarnation) is first answered `MemberRefused`.
///
/// Under peer TLS, the connection is bound to the member its certificate names
/// (`TLSPeerAuthenticated`, before any frame): a certificate that names no member, or an envelope
/// whose `from_id` is not that member, is refused (`TLSIdentityRefusal`) and closes it.
final class InboundEnvelopeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let context: TransportContext
    private let codec = WireCodec()
    private var connection: InboundConnection?
    private var rejected = false
    /// Peer TLS, if on (read once per connection, not per frame).
    private let tls: PeerTLS?
    /// The member id the TLS handshake authenticated; nil without TLS (or before the handshake).
    private var authenticatedMember: UInt64?

    init(context: TransportContext) {
        self.context = context
        self.tls = context.configuration.tls
    }

    func handlerAdded(context channelContext: ChannelHandlerContext) {
        connection = InboundConnection(channel: channelContext.channel, context: context)
    }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        guard !rejected, let connection else { return }
        let frame = unwrapInboundIn(data)
        let frameBytes = 4 + frame.readableBytes
        let envelope: Envelope
        do {
            envelope = try codec.decodeEnvelope(from: frame)
        } catch let error as WireError {
            return reject(.malformedEnvelope(error), channelContext)
        } catch {
            let wireError = WireError.malformed(message: "raft.Envelope", byteCount: frame.readableBytes)
            return reject(.malformedEnvelope(wireError), channelContext)
        }
        if let tls {
            // Frames come only after the handshake, which authenticated a member or closed.
            guard let member = authenticatedMember, envelope.fromID == member else {
                rejected = true
                tls.refuse(
                    .fromIDMismatch, endpoint: tls.server,
                    detail: "envelope from_id \(envelope.fromID) on a connection "
                        + (authenticatedMember.map { "authenticated as member \($0)" } ?? "that authenticated no member"),
                    remote: channelContext.remoteAddress.map { "\($0)" } ?? "?")
                return channelContext.close(promise: nil)
            }
        }
        switch context.validate(envelope, expectedSender: nil) {
        case .failure(.refusedMember(let peer, let refusal)):
            // Tell it why, as the answer to its request, and close once that is written.
            guard !rejected else { return }
            rejected = true
            context.reject(.refusedMember(peer, refusal), direction: .inbound, remote: channelContext.remoteAddress)
            let answer = context.refusalEnvelope(to: peer, id: envelope.id, refusal)
            var buffer = channelContext.channel.allocator.buffer(capacity: 256)
            let channel = channelContext.channel
            guard context.notifies(refusal), (try? codec.encodeFrame(answer, into: &buffer)) != nil else {
                return channel.close(promise: nil)
            }
            channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        case .failure(let rejection):
            reject(rejection, channelContext)
        case .success(.memberRefused(let refusal)):
            context.observer.frameReceived(from: envelope.fromID, rpc: .memberRefused, isRequest: false, bytes: frameBytes)
            context.refusedBy(envelope.fromID, refusal)
        case .success(let body):
            context.observer.frameReceived(
                from: envelope.fromID, rpc: RPCKind(body), isRequest: true, bytes: frameBytes)
            context.router.deliverRequest(
                Message(from: envelope.fromID, to: context.selfID, body: body), envelopeID: envelope.id,
                connection: connection)
        }
    }

    func userInboundEventTriggered(context channelContext: ChannelHandlerContext, event: Any) {
        if let peer = event as? TLSPeerAuthenticated, let tls {
            if let member = peer.memberID {
                authenticatedMember = member
            } else {
                rejected = true
                tls.refuse(
                    .notAMemberCertificate, endpoint: tls.server,
                    detail: "certificate \(peer.commonName ?? "without a common name") does not name a member",
                    remote: channelContext.remoteAddress.map { "\($0)" } ?? "?")
                channelContext.close(promise: nil)
            }
        }
        channelContext.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context channelContext: ChannelHandlerContext, error: any Error) {
        if let frameError = error as? FrameError {
            reject(.badFrame(frameError), channelContext)
        } else {
            if !rejected {
                context.logger.debug(
                    "peer connection error",
                    metadata: [
                        "remote": "\(channelContext.remoteAddress.map { "\($0)" } ?? "?")", "error": "\(error)",
                    ])
            }
            rejected = true
            channelContext.close(promise: nil)
        }
    }

    private func reject(_ rejection: InboundRejection, _ channelContext: ChannelHandlerContext) {
        guard !rejected else { return }
        rejected = true
        context.reject(rejection, direction: .inbound, remote: channelContext.remoteAddress)
        channelContext.close(promise: nil)
    }
}
