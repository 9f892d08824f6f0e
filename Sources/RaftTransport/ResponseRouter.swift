import Logging
import NIOConcurrencyHelpers
import NIOCore
import RaftCore
import RaftMessages

/// Sends each response back where its request came from: on the connection its request came in
/// on, with the request's envelope id (proto/raft.proto).
///
/// The core sees Raft messages as one-way; it does not know envelope ids or connections. So for
/// each request delivered to the node, the router remembers (connection, envelope id, RPC kind)
/// in a FIFO per sending peer, and pairs each response the node sends to that peer with the
/// oldest pending request of the same kind. Recording a request and handing it to the node
/// happen under one lock, so the FIFO order is exactly the order of delivery, even when one
/// peer's requests arrive on two connections (a reconnect).
///
/// A FIFO (rather than a lookup by id) is enough because the node answers each peer's requests
/// in the order it received them: it steps them one by one and the core emits each response
/// while stepping its request. Where the core stays silent, the pending entry is skipped the
/// next time the node answers that peer with another kind, or forgotten once older than
/// `pendingResponseLifetime`, and counted as a resynchronization.
///
/// A forwarded read (`ReadIndexRequest`) is the exception: the leader answers it only after a
/// heartbeat round, while answering that peer's other requests at once. Read requests therefore
/// queue in a lane of their own, answered in order within it (the core answers every one, in
/// arrival order), and other answers never skip them.
final class ResponseRouter: Sendable {
    /// Which FIFO of a peer a request waits in.
    private struct Lane: Hashable {
        let peer: UInt64
        let deferred: Bool

        init(peer: UInt64, rpc: RPCKind) {
            self.peer = peer
            self.deferred = rpc == .readIndex
        }
    }

    struct Pending: Sendable {
        let connection: InboundConnection
        let envelopeID: UInt64
        let rpc: RPCKind
        let deliveredAt: NIODeadline
    }

    /// Per sending peer and lane, in delivery order. Empty FIFOs stay (two per member at most),
    /// so the buffers are mutated in place and not reallocated per request.
    private let pending = NIOLockedValueBox<[Lane: CircularBuffer<Pending>]>([:])
    private let limit: Int
    private let lifetime: TimeAmount
    private let observer: any TransportObserver
    private let logger: Logger
    private let delivery: InboundDelivery

    /// `limit`: pending requests kept per peer. `lifetime`: how long a delivered request waits
    /// for the node's response before it is forgotten.
    init(limit: Int, lifetime: TimeAmount, observer: any TransportObserver, logger: Logger, delivery: InboundDelivery) {
        precondition(limit > 0, "the pending-response FIFO must hold at least one request")
        self.limit = limit
        self.lifetime = lifetime
        self.observer = observer
        self.logger = logger
        self.delivery = delivery
    }

    /// Delivers a validated request to the node and records where its response must go. A request
    /// the node's buffer refuses is not recorded (no response will come for it).
    func deliverRequest(_ message: Message, envelopeID: UInt64, connection: InboundConnection) {
        let now = NIODeadline.now()
        let entry = Pending(
            connection: connection, envelopeID: envelopeID, rpc: RPCKind(message.body), deliveredAt: now)
        let lane = Lane(peer: message.from, rpc: entry.rpc)
        let (expired, evicted): (Int, Pending?) = pending.withLockedValue { fifos in
            guard delivery.deliver(message) else { return (0, nil) }
            let expired = Self.forgetExpired(in: &fifos[lane, default: []], now: now, lifetime: lifetime)
            var evicted: Pending?
            if fifos[lane, default: []].count >= limit {
                evicted = fifos[lane]?.removeFirst()
            }
            fifos[lane, default: []].append(entry)
            return (expired, evicted)
        }
        if expired > 0 {
            observer.responsesResynchronized(peer: message.from, discarded: expired)
        }
        if let evicted {
            observer.dropped(evicted.rpc, isRequest: false, peer: message.from, reason: .pendingResponsesFull)
            logger.warning(
                "node left too many requests unanswered; forgetting the oldest",
                metadata: ["peer": "\(message.from)", "id": "\(evicted.envelopeID)"])
        }
    }

    /// The pending request that a response of kind `rpc` to `peer` answers: the oldest of that
    /// kind. Older entries of other kinds are discarded (the node skipped them) and counted, as
    /// are entries older than the lifetime; if no entry of that kind waits, nothing else is
    /// discarded and nil is returned.
    func takePending(for rpc: RPCKind, peer: UInt64) -> Pending? {
        let now = NIODeadline.now()
        let lane = Lane(peer: peer, rpc: rpc)
        let (found, discarded): (Pending?, Int) = pending.withLockedValue { fifos in
            guard fifos[lane] != nil else { return (nil, 0) }
            let expired = Self.forgetExpired(in: &fifos[lane]!, now: now, lifetime: lifetime)
            guard let position = fifos[lane]!.firstIndex(where: { $0.rpc == rpc }) else { return (nil, expired) }
            let skipped = fifos[lane]!.distance(from: fifos[lane]!.startIndex, to: position)
            fifos[lane]!.removeFirst(skipped)
            return (fifos[lane]!.removeFirst(), expired + skipped)
        }
        if discarded > 0 {
            observer.responsesResynchronized(peer: peer, discarded: discarded)
            logger.debug(
                "node answered out of order; skipped pending requests",
                metadata: ["peer": "\(peer)", "skipped": "\(discarded)", "rpc": "\(rpc.rawValue)"])
        }
        return found
    }

    /// Drops entries delivered more than `lifetime` ago from the front of `fifo`: the node will
    /// not answer them any more (it skipped them), and their requesters gave up long ago.
    private static func forgetExpired(
        in fifo: inout CircularBuffer<Pending>, now: NIODeadline, lifetime: TimeAmount
    ) -> Int {
        var count = 0
        while let first = fifo.first, first.deliveredAt + lifetime < now {
            fifo.removeFirst()
            count += 1
        }
        return count
    }

    /// Forgets everything (shutdown).
    func removeAll() {
        pending.withLockedValue { $0.removeAll() }
    }
}
