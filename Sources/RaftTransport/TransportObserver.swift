import NIOCore
import RaftMessages
import RaftWire

/// The RPCs of the peer protocol, as metric labels name them (`rpc` label, README "Metrics"),
/// and the transport's refusal notice (`MemberRefused`), which is not an RPC of the core.
public enum RPCKind: String, Sendable, Hashable, CaseIterable {
    case requestVote = "request_vote"
    case appendEntries = "append_entries"
    case installSnapshot = "install_snapshot"
    case timeoutNow = "timeout_now"
    case readIndex = "read_index"
    case memberRefused = "member_refused"

    /// The RPC a request or a response belongs to.
    public init(_ body: RaftMessage) {
        switch body {
        case .requestVote, .requestVoteResponse: self = .requestVote
        case .appendEntries, .appendEntriesResponse: self = .appendEntries
        case .installSnapshot, .installSnapshotResponse: self = .installSnapshot
        case .timeoutNow, .timeoutNowResponse: self = .timeoutNow
        case .readIndex, .readIndexResponse: self = .readIndex
        case .memberRefused: self = .memberRefused
        }
    }
}

/// Which side opened the connection a frame arrived on.
public enum ConnectionDirection: String, Sendable, Hashable {
    /// Accepted by our peer server: it carries requests in, responses out.
    case inbound
    /// Opened by us to a peer: it carries requests out, responses in.
    case outbound
}

/// Why a frame arriving on a peer connection was rejected. Every rejection closes that
/// connection; the node keeps serving every other connection.
public enum InboundRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// Framing violated: length 0, above the maximum, or the connection ended inside a frame.
    case badFrame(FrameError)
    /// The frame is not a protobuf `raft.Envelope`.
    case malformedEnvelope(WireError)
    /// The envelope's `body` oneof is unset.
    case missingBody
    /// `cluster_id` is not ours: a misconfigured member of another cluster. (The
    /// description shows at most 64 characters of it: the id comes from the wire.)
    case foreignCluster(String)
    /// `to_id` is not this node.
    case wrongDestination(UInt64)
    /// `from_id` is 0 or this node's own id, or (on an outbound connection) not the peer we
    /// dialled.
    case unknownPeer(UInt64)
    /// A response on a connection that carries requests in (inbound).
    case unexpectedResponse
    /// A request on a connection that carries responses in (outbound).
    case unexpectedRequest
    /// A response whose kind differs from that of the request with its `id`.
    case mismatchedResponse(id: UInt64)
    /// A member the configuration does not accept: removed, or another incarnation than the
    /// one recorded. It is told (`MemberRefused`) before the connection closes.
    case refusedMember(UInt64, MemberRefused)

    /// A short stable name, for metric labels.
    public var label: String {
        switch self {
        case .badFrame(.zeroLength): "zero_length_frame"
        case .badFrame(.tooLarge): "oversized_frame"
        case .badFrame(.truncated): "truncated_frame"
        case .malformedEnvelope: "malformed_envelope"
        case .missingBody: "missing_body"
        case .foreignCluster: "foreign_cluster"
        case .wrongDestination: "wrong_destination"
        case .unknownPeer: "unknown_peer"
        case .unexpectedResponse: "unexpected_response"
        case .unexpectedRequest: "unexpected_request"
        case .mismatchedResponse: "mismatched_response"
        case .refusedMember(_, let refusal): refusal.removed ? "removed_member" : "other_incarnation"
        }
    }

    public var description: String {
        switch self {
        case .badFrame(.tooLarge(let length, _)) where length >> 16 == 0x1603:
            // A TLS record header (handshake, version 3.x) read as a length prefix.
            "TLS on a plaintext peer port: a member with peer TLS is dialling this member, which has none (turn peer TLS on for every member)"
        case .badFrame(let error): "bad frame: \(error)"
        case .malformedEnvelope(let error): "malformed envelope: \(error)"
        case .missingBody: "envelope without a body"
        case .foreignCluster(let id): "envelope of foreign cluster \"\(id.prefix(64))\""
        case .wrongDestination(let id): "envelope addressed to node \(id)"
        case .unknownPeer(let id): "envelope from unknown peer \(id)"
        case .unexpectedResponse: "response on an inbound connection"
        case .unexpectedRequest: "request on an outbound connection"
        case .mismatchedResponse(let id): "response kind does not match request \(id)"
        case .refusedMember(let id, let refusal): "refused member \(id): \(refusal.reason)"
        }
    }
}

/// Why a message was not sent (or not delivered to the node).
public enum DropReason: String, Sendable, Hashable, CaseIterable {
    /// The peer's queue was at its bound (peer slow, dead or not yet connected).
    case queueFull = "queue_full"
    /// The message waited longer than `maximumQueueDelay` for its peer to become writable.
    case stale
    /// The message's `to` is not a member (or is this node).
    case unknownPeer = "unknown_peer"
    /// A response whose request's connection closed before the response was written.
    case connectionClosed = "connection_closed"
    /// A response for which no delivered request of that kind awaits one.
    case noPendingRequest = "no_pending_request"
    /// A delivered request forgotten because the peer's pending-response FIFO was full.
    case pendingResponsesFull = "pending_responses_full"
    /// An inbound message dropped because the node loop left `inbound` full.
    case inboundBufferFull = "inbound_buffer_full"
    /// Encoded, the message exceeds `maximumFrameLength`: the peer would reject the frame and
    /// close the connection, so it is not sent (the core should cap its batch sizes below that).
    case tooLarge = "too_large"
    /// The codec refused the message.
    case encodingFailed = "encoding_failed"
    /// The transport was shut down.
    case shutdown
}

/// Why an RPC this node sent got no response.
public enum RPCFailure: String, Sendable, Hashable, CaseIterable {
    /// No response within `requestTimeout`.
    case timeout
    /// The connection closed (or was closed for a protocol error) with the request in flight.
    case connectionLost = "connection_lost"
    /// The request was dropped unsent: queue full or stale while the peer was unreachable.
    case notSent = "not_sent"
}

/// What the transport reports about its work; the metrics target implements this for the
/// Prometheus families of the metrics page (README, "Metrics") (`raft_peer_bytes_*`, `raft_malformed_frames_total`,
/// `raft_rpc_failures_total`, `raft_rpc_duration_seconds`, ...).
///
/// Implementers' notes: methods are called on NIO event loops and on the thread that calls
/// `PeerTransport.send`, concurrently. They must be cheap and must not block: counters and
/// histograms only, no I/O. Every method has a no-op default.
public protocol TransportObserver: Sendable {
    /// One frame (length prefix included) written to `peer`: a request of ours or a response to
    /// one of its requests (`raft_rpc_sent_total`, `raft_peer_bytes_sent_total`).
    func frameSent(to peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int)
    /// One valid frame (length prefix included) received from `peer`
    /// (`raft_rpc_received_total`, `raft_peer_bytes_received_total`).
    func frameReceived(from peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int)
    /// A frame was rejected and its connection closed.
    func rejected(_ rejection: InboundRejection, direction: ConnectionDirection)
    /// A message was dropped; `peer` is the member it was to or from (or the bad `to` id).
    func dropped(_ rpc: RPCKind, isRequest: Bool, peer: UInt64, reason: DropReason)
    /// An outbound connection to `peer` was established.
    func connected(to peer: UInt64)
    /// An outbound connection attempt to `peer` failed (refused, unreachable, timed out).
    func connectFailed(to peer: UInt64)
    /// An established outbound connection to `peer` closed.
    func disconnected(from peer: UInt64)
    /// A reconnect to `peer` will be tried after `delay` (after `failures` consecutive failures).
    func reconnectScheduled(to peer: UInt64, failures: Int, delay: TimeAmount)
    /// A response arrived `latency` after its request was handed to `send`.
    func rpcCompleted(_ rpc: RPCKind, peer: UInt64, latency: TimeAmount)
    /// A request this node sent to `peer` got no response.
    func rpcFailed(_ rpc: RPCKind, peer: UInt64, reason: RPCFailure)
    /// The node answered out of the order of delivery, or left requests unanswered longer than
    /// `pendingResponseLifetime`: `discarded` pending requests of `peer` were forgotten (see
    /// `PeerTransport`, "Response pairing").
    func responsesResynchronized(peer: UInt64, discarded: Int)
}

extension TransportObserver {
    public func frameSent(to peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {}
    public func frameReceived(from peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {}
    public func rejected(_ rejection: InboundRejection, direction: ConnectionDirection) {}
    public func dropped(_ rpc: RPCKind, isRequest: Bool, peer: UInt64, reason: DropReason) {}
    public func connected(to peer: UInt64) {}
    public func connectFailed(to peer: UInt64) {}
    public func disconnected(from peer: UInt64) {}
    public func reconnectScheduled(to peer: UInt64, failures: Int, delay: TimeAmount) {}
    public func rpcCompleted(_ rpc: RPCKind, peer: UInt64, latency: TimeAmount) {}
    public func rpcFailed(_ rpc: RPCKind, peer: UInt64, reason: RPCFailure) {}
    public func responsesResynchronized(peer: UInt64, discarded: Int) {}
}

/// The default observer: ignores everything.
public struct NoopTransportObserver: TransportObserver {
    public init() {}
}
