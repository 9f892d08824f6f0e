import Logging
import NIOConcurrencyHelpers
import NIOCore
import RaftCore
import RaftMessages

/// What every connection of one transport shares: configuration, the observer, the logger, the
/// way into the node, and the membership view (behind a lock: the node updates it as the
/// configuration changes). Freely shared across event loops.
final class TransportContext: Sendable {
    let configuration: PeerTransportConfiguration
    let selfID: UInt64
    let clusterID: String
    let membership = NIOLockedValueBox(MembershipView())
    let observer: any TransportObserver
    let logger: Logger
    let delivery: InboundDelivery
    let router: ResponseRouter
    /// Told when a peer refuses this member (`MemberRefused`).
    let onRefused: (@Sendable (UInt64, MemberRefused) -> Void)?
    /// One warning per refused peer and reason per minute; the counter counts every refusal.
    private let refusalLogged = NIOLockedValueBox<[String: NIODeadline]>([:])

    init(
        configuration: PeerTransportConfiguration, observer: any TransportObserver, logger: Logger,
        delivery: InboundDelivery, onRefused: (@Sendable (UInt64, MemberRefused) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.selfID = configuration.selfID
        self.clusterID = configuration.clusterID
        self.observer = observer
        self.logger = logger
        self.delivery = delivery
        self.onRefused = onRefused
        self.router = ResponseRouter(
            limit: configuration.maximumPendingResponses, lifetime: configuration.pendingResponseLifetime,
            observer: observer, logger: logger, delivery: delivery)
    }

    /// Bytes the framed envelope of `body` will take, without encoding it (for queue bounds).
    func estimatedFrameSize(of body: RaftMessage) -> Int {
        // Length prefix, four envelope scalars and tags, the cluster id, the body's own header.
        4 + 4 * 11 + 2 + clusterID.utf8.count + 6 + body.wireSize
    }

    /// The checks of every envelope (proto/raft.proto, `Envelope`), whichever way its
    /// connection was opened. `expectedSender` is the dialled peer on an outbound connection,
    /// nil on an inbound one. A `MemberRefused` notice may come either way.
    func validate(_ envelope: Envelope, expectedSender: UInt64?) -> Result<RaftMessage, InboundRejection> {
        guard let body = envelope.body else { return .failure(.missingBody) }
        guard envelope.clusterID == clusterID else { return .failure(.foreignCluster(envelope.clusterID)) }
        guard envelope.toID == selfID else { return .failure(.wrongDestination(envelope.toID)) }
        if let expectedSender {
            guard envelope.fromID == expectedSender else { return .failure(.unknownPeer(envelope.fromID)) }
        } else {
            guard envelope.fromID != 0, envelope.fromID != selfID else { return .failure(.unknownPeer(envelope.fromID)) }
        }
        if let refusal = membership.withLockedValue({
            $0.refusal(of: envelope.fromID, incarnation: envelope.fromIncarnation, body: body)
        }) {
            return .failure(.refusedMember(envelope.fromID, refusal))
        }
        if case .memberRefused = body { return .success(body) }
        if expectedSender != nil {
            guard !body.isRequest else { return .failure(.unexpectedRequest) }
        } else {
            guard body.isRequest else { return .failure(.unexpectedResponse) }
        }
        return .success(body)
    }

    /// A peer refused this member: tell the node (which stops).
    func refusedBy(_ peer: UInt64, _ refusal: MemberRefused) {
        logger.critical("member \(peer) refuses this member: \(refusal.reason)")
        onRefused?(peer, refusal)
    }

    /// Whether `refusal` is told to the refused member (see `MembershipView.notifies`).
    func notifies(_ refusal: MemberRefused) -> Bool {
        membership.withLockedValue { $0.notifies(refusal) }
    }

    /// The envelope that tells `peer` it is refused.
    func refusalEnvelope(to peer: UInt64, id: UInt64, _ refusal: MemberRefused) -> Envelope {
        Envelope(
            clusterID: clusterID, fromID: selfID, toID: peer, id: id, fromIncarnation: configuration.selfIncarnation,
            body: .memberRefused(refusal))
    }

    /// Counts and logs a message whose frame exceeds `maximumFrameLength` (`DropReason.tooLarge`).
    func dropOversized(_ rpc: RPCKind, isRequest: Bool, bytes: Int, peer: UInt64) {
        observer.dropped(rpc, isRequest: isRequest, peer: peer, reason: .tooLarge)
        logger.error(
            "message exceeds the maximum frame length; not sent",
            metadata: [
                "peer": "\(peer)", "rpc": "\(rpc.rawValue)", "bytes": "\(bytes)",
                "maximum": "\(configuration.maximumFrameLength)",
            ])
    }

    /// Counts and logs a rejected frame. The caller closes the connection. A refused member is
    /// logged once a minute per member and reason (it keeps coming back until it stops).
    func reject(_ rejection: InboundRejection, direction: ConnectionDirection, remote: SocketAddress?) {
        observer.rejected(rejection, direction: direction)
        if case .refusedMember(let id, _) = rejection {
            let key = "\(id)/\(rejection.label)"
            let now = NIODeadline.now()
            let log = refusalLogged.withLockedValue { logged in
                if let last = logged[key], now - last < .minutes(1) { return false }
                logged[key] = now
                return true
            }
            guard log else { return }
        }
        logger.warning(
            "closing peer connection: \(rejection)",
            metadata: [
                "remote": "\(remote.map { "\($0)" } ?? "?")", "direction": "\(direction.rawValue)",
                "reason": "\(rejection.label)",
            ])
    }
}

/// The way into the node loop: `PeerTransport.inbound`'s continuation, plus the drop count when
/// the node lets that buffer fill.
struct InboundDelivery: Sendable {
    let continuation: AsyncStream<Message>.Continuation
    /// When set, messages go straight to it instead of through `continuation`.
    let handler: (@Sendable (Message) -> Bool)?
    let observer: any TransportObserver

    /// Hands `message` to the node; false if it was dropped (buffer full or stream finished).
    @discardableResult
    func deliver(_ message: Message) -> Bool {
        if let handler {
            if handler(message) { return true }
            observer.dropped(
                RPCKind(message.body), isRequest: message.body.isRequest, peer: message.from,
                reason: .inboundBufferFull)
            return false
        }
        switch continuation.yield(message) {
        case .enqueued:
            return true
        case .dropped:
            observer.dropped(
                RPCKind(message.body), isRequest: message.body.isRequest, peer: message.from,
                reason: .inboundBufferFull)
            return false
        case .terminated:
            return false
        @unknown default:
            return false
        }
    }
}
