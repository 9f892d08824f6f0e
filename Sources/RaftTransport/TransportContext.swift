import Logging
import NIOCore
import RaftCore
import RaftMessages

/// What every connection of one transport shares: immutable configuration, the observer, the
/// logger and the way into the node. Immutable itself, so freely shared across event loops.
final class TransportContext: Sendable {
    let configuration: PeerTransportConfiguration
    let selfID: UInt64
    let clusterID: String
    /// Ids envelopes may come from: every configured peer (never `selfID`).
    let members: Set<UInt64>
    let observer: any TransportObserver
    let logger: Logger
    let delivery: InboundDelivery
    let router: ResponseRouter

    init(
        configuration: PeerTransportConfiguration, observer: any TransportObserver, logger: Logger,
        delivery: InboundDelivery
    ) {
        self.configuration = configuration
        self.selfID = configuration.selfID
        self.clusterID = configuration.clusterID
        self.members = Set(configuration.peers.keys).subtracting([configuration.selfID])
        self.observer = observer
        self.logger = logger
        self.delivery = delivery
        self.router = ResponseRouter(
            limit: configuration.maximumPendingResponses, lifetime: configuration.pendingResponseLifetime,
            observer: observer, logger: logger, delivery: delivery)
    }

    /// Bytes the framed envelope of `body` will take, without encoding it (for queue bounds).
    func estimatedFrameSize(of body: RaftMessage) -> Int {
        // Length prefix, four envelope scalars and tags, the cluster id, the body's own header.
        4 + 4 * 11 + 2 + clusterID.utf8.count + 6 + body.wireSize
    }

    /// The checks DESIGN §2 asks of every envelope, whichever way its connection was opened.
    /// `expectedSender` is the dialled peer on an outbound connection, nil on an inbound one.
    func validate(_ envelope: Envelope, expectedSender: UInt64?) -> Result<RaftMessage, InboundRejection> {
        guard let body = envelope.body else { return .failure(.missingBody) }
        guard envelope.clusterID == clusterID else { return .failure(.foreignCluster(envelope.clusterID)) }
        guard envelope.toID == selfID else { return .failure(.wrongDestination(envelope.toID)) }
        if let expectedSender {
            guard envelope.fromID == expectedSender else { return .failure(.unknownPeer(envelope.fromID)) }
            guard !body.isRequest else { return .failure(.unexpectedRequest) }
        } else {
            guard members.contains(envelope.fromID) else { return .failure(.unknownPeer(envelope.fromID)) }
            guard body.isRequest else { return .failure(.unexpectedResponse) }
        }
        return .success(body)
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

    /// Counts and logs a rejected frame. The caller closes the connection.
    func reject(_ rejection: InboundRejection, direction: ConnectionDirection, remote: SocketAddress?) {
        observer.rejected(rejection, direction: direction)
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
