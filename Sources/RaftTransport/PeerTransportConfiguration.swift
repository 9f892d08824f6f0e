import NIOCore
import RaftWire

/// A `host:port` a member's peer server listens on (`raft-node --cluster 1=host:port,...`).
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// How much a peer may hold of this node's memory before new messages to it are dropped.
///
/// Raft needs no reliable delivery: a lost AppendEntries is resent by the next heartbeat or
/// probe, a lost vote by the next election. What it cannot afford is a node loop that waits on
/// a slow or dead peer, or a backlog of stale messages that a recovering peer must wade through.
/// So every queue toward a peer is bounded by both a message count and a byte count, and a
/// message that would exceed either bound is dropped (and counted) instead of queued.
public struct QueueLimits: Sendable, Hashable {
    /// Messages queued toward one peer (outbound requests) or one inbound connection (responses).
    public var maximumMessages: Int
    /// Bytes (estimated encoded size) queued likewise. A single message larger than this is
    /// always dropped, so keep it above `maximumFrameLength`.
    public var maximumBytes: Int

    public init(maximumMessages: Int = 1024, maximumBytes: Int = 64 * 1024 * 1024) {
        precondition(maximumMessages > 0 && maximumBytes > 0, "queue limits must admit some message")
        self.maximumMessages = maximumMessages
        self.maximumBytes = maximumBytes
    }
}

/// Everything `PeerTransport` needs to know about this node and its peers.
public struct PeerTransportConfiguration: Sendable {
    /// This node's id (`--id`); envelopes must carry it as `to_id`.
    public var selfID: UInt64
    /// `--cluster-id`; envelopes of any other cluster are rejected (proto/raft.proto, `Envelope`).
    public var clusterID: String
    /// Where the peer server listens. Port 0 picks a free port (`start()` returns it).
    public var listenAddress: PeerAddress
    /// The other members and their peer addresses at start (an entry for `selfID` is ignored);
    /// `PeerTransport.updateMembership` changes them as the configuration changes. Envelopes
    /// are accepted from any other id that is not refused (see `MembershipView`): a member added
    /// by a change this node has not applied yet may already be writing to it.
    public var peers: [UInt64: PeerAddress]
    /// This member's incarnation, sent in every envelope (`Envelope.from_incarnation`).
    public var selfIncarnation: UInt64 = 0
    /// Largest frame accepted (framing, proto/raft.proto; default 16 MiB).
    public var maximumFrameLength: UInt32 = defaultMaximumFrameLength
    /// How long one TCP connect may take before it counts as failed.
    public var connectTimeout: TimeAmount = .seconds(1)
    /// A request with no response after this long counts as a failed RPC for (rpc, peer).
    public var requestTimeout: TimeAmount = .seconds(2)
    /// A queued request that could not be written within this long is dropped rather than sent
    /// late: by then Raft has already retried, and the stale copy only delays fresh traffic.
    public var maximumQueueDelay: TimeAmount = .seconds(2)
    /// Delays between reconnect attempts to a peer.
    public var backoff: Backoff = Backoff()
    /// Per-peer queue bounds; see `QueueLimits`.
    public var queueLimits: QueueLimits = QueueLimits()
    /// Requests awaiting a response on one outbound connection. When reached, writing pauses (the
    /// queue then fills and drops) until responses arrive or requests time out.
    public var maximumInFlightRequests: Int = 4096
    /// Delivered requests from one peer still awaiting the node's response. Beyond this the
    /// oldest is forgotten (the node broke the one-response-per-request contract).
    public var maximumPendingResponses: Int = 4096
    /// A delivered request the node has not answered within this long is forgotten (counted as
    /// a resynchronization): the core skipped it (e.g. a RequestVote ignored inside the leader
    /// lease), and its requester timed out long ago. Keeps such skips from pairing later
    /// responses with old ids for more than this long.
    public var pendingResponseLifetime: TimeAmount = .seconds(10)
    /// Messages buffered in `PeerTransport.inbound` for the node loop. Beyond this, new inbound
    /// messages are dropped and counted (the node loop is not keeping up).
    public var inboundBufferCapacity: Int = 8192
    /// NIO write-buffer water marks of every peer connection: above `high` the channel reports
    /// itself not writable and the transport stops writing to it until it drops below `low`.
    public var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark =
        .init(low: 1024 * 1024, high: 4 * 1024 * 1024)
    /// Mutual TLS between members; nil: plaintext TCP.
    public var tls: PeerTLS?

    public init(selfID: UInt64, clusterID: String, listenAddress: PeerAddress, peers: [UInt64: PeerAddress]) {
        self.selfID = selfID
        self.clusterID = clusterID
        self.listenAddress = listenAddress
        self.peers = peers
    }
}
