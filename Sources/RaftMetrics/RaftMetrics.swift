import NIOCore
import Prometheus
import RaftCore
import RaftNode
import RaftTransport

/// Every metric family of DESIGN §4 in one Prometheus registry. It is the node's and the
/// transport's observer: updates are lock-free or take the registry's short per-metric locks,
/// never the node loop's time, and rendering the page reads the registry without touching the
/// node.
public final class RaftMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public static let version = "0.1.0"

    private let term: Gauge
    private let states: [String: Gauge]
    private let leaderID: Gauge
    private let hasLeader: Gauge
    private let electionsStarted: Counter
    private let electionsWon: Counter
    private let leaderChanges: Counter
    private let lastLogIndex: Gauge
    private let commitIndex: Gauge
    private let appliedIndex: Gauge
    private let snapshotIndex: Gauge
    private let commitLag: Gauge
    private let applyLag: Gauge
    private let followerLag: [UInt64: Gauge]
    private let rpcSent: [RPCKind: [UInt64: Counter]]
    private let rpcReceived: [RPCKind: Counter]
    private let rpcFailures: [RPCKind: [UInt64: Counter]]
    private let rpcDuration: [RPCKind: DurationHistogram]
    private let commitDuration: DurationHistogram
    private let proposalsCommitted: Counter
    private let proposalsFailed: Counter
    private let snapshotsCreated: Counter
    private let snapshotsInstalled: Counter
    private let snapshotCompressedBytes: Gauge
    private let snapshotRawBytes: Gauge
    private let walFsyncDuration: DurationHistogram
    private let peerBytesSent: [UInt64: Counter]
    private let peerBytesReceived: [UInt64: Counter]
    private let malformedPeerFrames: Counter
    private let malformedClientFrames: Counter
    let process: ProcessMetrics

    /// Latency buckets from 0.5 ms to 10 s: loopback RPCs to slow disks under load.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(10),
    ]

    public init(id: UInt64, clusterID: String, peers: [UInt64]) {
        func name(_ metric: String, _ unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "raft", metricName: metric, unitName: unit, helpText: help)
        }
        let r = registry
        term = r.makeGauge(descriptor: name("term", "", "Current term (Figure 2 currentTerm)."))
        states = Dictionary(
            uniqueKeysWithValues: ["follower", "candidate", "leader"].map { state in
                (state, r.makeGauge(
                    descriptor: name("state", "", "1 for the role this node plays now, 0 for the others."),
                    labels: [("state", state)]))
            })
        leaderID = r.makeGauge(descriptor: name("leader_id", "", "Id of the leader this node knows, 0 if none."))
        hasLeader = r.makeGauge(descriptor: name("has_leader", "", "1 if this node knows a leader, else 0."))
        electionsStarted = r.makeCounter(
            descriptor: name("elections_started", "total", "Elections this node started as a candidate."))
        electionsWon = r.makeCounter(descriptor: name("elections_won", "total", "Elections this node won."))
        leaderChanges = r.makeCounter(
            descriptor: name("leader_changes_seen", "total", "Times this node saw the leader change."))
        lastLogIndex = r.makeGauge(descriptor: name("last_log_index", "", "Index of the last entry in the log."))
        commitIndex = r.makeGauge(descriptor: name("commit_index", "", "Highest index known to be committed."))
        appliedIndex = r.makeGauge(descriptor: name("applied_index", "", "Highest index applied to the state machine."))
        snapshotIndex = r.makeGauge(descriptor: name("snapshot_index", "", "Last index covered by the latest snapshot."))
        commitLag = r.makeGauge(
            descriptor: name("commit_lag_entries", "", "Leader's commit index as last heard minus this node's (0 on the leader)."))
        applyLag = r.makeGauge(descriptor: name("apply_lag_entries", "", "Commit index minus applied index."))
        let others = peers.filter { $0 != id }
        func perPeer<T>(_ make: (UInt64) -> T) -> [UInt64: T] {
            Dictionary(uniqueKeysWithValues: others.map { ($0, make($0)) })
        }
        func perRPC<T>(_ make: (RPCKind) -> T) -> [RPCKind: T] {
            Dictionary(uniqueKeysWithValues: RPCKind.allCases.map { ($0, make($0)) })
        }
        followerLag = perPeer { peer in
            r.makeGauge(
                descriptor: name("follower_lag_entries", "", "On the leader: last log index minus the peer's match index."),
                labels: [("peer", "\(peer)")])
        }
        rpcSent = perRPC { rpc in
            perPeer { peer in
                r.makeCounter(
                    descriptor: name("rpc_sent", "total", "RPC requests sent."),
                    labels: [("rpc", rpc.rawValue), ("peer", "\(peer)")])
            }
        }
        rpcReceived = perRPC { rpc in
            r.makeCounter(descriptor: name("rpc_received", "total", "RPC requests received."), labels: [("rpc", rpc.rawValue)])
        }
        rpcFailures = perRPC { rpc in
            perPeer { peer in
                r.makeCounter(
                    descriptor: name("rpc_failures", "total", "RPCs that got no answer: timeouts, lost connections, not sent."),
                    labels: [("rpc", rpc.rawValue), ("peer", "\(peer)")])
            }
        }
        rpcDuration = perRPC { rpc in
            r.makeDurationHistogram(
                descriptor: name("rpc_duration", "seconds", "Request to response, as the sender saw it."),
                labels: [("rpc", rpc.rawValue)], buckets: Self.durationBuckets)
        }
        commitDuration = r.makeDurationHistogram(
            descriptor: name("commit_duration", "seconds", "Proposal to commit and apply, on the leader."),
            buckets: Self.durationBuckets)
        proposalsCommitted = r.makeCounter(descriptor: name("proposals_committed", "total", "Client proposals committed."))
        proposalsFailed = r.makeCounter(descriptor: name("proposals_failed", "total", "Client proposals that failed."))
        snapshotsCreated = r.makeCounter(descriptor: name("snapshots_created", "total", "Snapshots this node took."))
        snapshotsInstalled = r.makeCounter(
            descriptor: name("snapshots_installed", "total", "Snapshots installed from the leader."))
        snapshotCompressedBytes = r.makeGauge(
            descriptor: name("snapshot", "bytes", "Size of the latest snapshot."), labels: [("form", "compressed")])
        snapshotRawBytes = r.makeGauge(
            descriptor: name("snapshot", "bytes", "Size of the latest snapshot."), labels: [("form", "raw")])
        walFsyncDuration = r.makeDurationHistogram(
            descriptor: name("wal_fsync_duration", "seconds", "Durable-write latency of the write-ahead log."),
            buckets: Self.durationBuckets)
        peerBytesSent = perPeer { peer in
            r.makeCounter(descriptor: name("peer_bytes_sent", "total", "Bytes sent to the peer."), labels: [("peer", "\(peer)")])
        }
        peerBytesReceived = perPeer { peer in
            r.makeCounter(
                descriptor: name("peer_bytes_received", "total", "Bytes received from the peer."), labels: [("peer", "\(peer)")])
        }
        malformedPeerFrames = r.makeCounter(
            descriptor: name("malformed_frames", "total", "Bad input rejected (connection closed)."), labels: [("port", "peer")])
        malformedClientFrames = r.makeCounter(
            descriptor: name("malformed_frames", "total", "Bad input rejected (connection closed)."), labels: [("port", "client")])
        r.makeGauge(
            descriptor: name("node_info", "", "Always 1; labels identify the node."),
            labels: [("id", "\(id)"), ("cluster", clusterID), ("version", Self.version)]
        ).set(to: 1)
        process = ProcessMetrics(registry: r)
        states["follower"]?.set(to: 1)
    }

    /// The page: Prometheus text format 0.0.4.
    public func render() -> [UInt8] {
        process.refresh()
        return registry.emitToBuffer()
    }

    /// A write-ahead log sync took `duration` (DiskStorage's sync observer).
    public func walSynced(after duration: Duration) {
        walFsyncDuration.record(duration)
    }

    /// A client-port frame or request was rejected.
    public func malformedClientFrame() {
        malformedClientFrames.increment()
    }
}

extension RaftMetrics: RaftNodeObserver {
    public func statusChanged(from old: RaftNodeStatus, to new: RaftNodeStatus) {
        term.set(to: Double(new.term))
        let state =
            switch new.role {
            case .follower: "follower"
            case .preCandidate, .candidate: "candidate"
            case .leader: "leader"
            }
        for (name, gauge) in states { gauge.set(to: name == state ? 1 : 0) }
        leaderID.set(to: Double(new.leaderID))
        hasLeader.set(to: new.leaderID == 0 ? 0 : 1)
        // A new term as candidate (or straight to leader, as a single member does) is an election.
        let newTerm = new.term > old.term
        if (new.role == .candidate && (old.role != .candidate || newTerm))
            || (new.role == .leader && old.role != .leader && old.role != .candidate && newTerm)
        {
            electionsStarted.increment()
        }
        if new.role == .leader && old.role != .leader { electionsWon.increment() }
        if new.leaderID != 0 && new.leaderID != old.leaderID { leaderChanges.increment() }
        lastLogIndex.set(to: Double(new.lastIndex))
        commitIndex.set(to: Double(new.commitIndex))
        appliedIndex.set(to: Double(new.appliedIndex))
        snapshotIndex.set(to: Double(new.snapshotIndex))
        commitLag.set(to: Double(new.commitLag))
        applyLag.set(to: Double(new.commitIndex > new.appliedIndex ? new.commitIndex - new.appliedIndex : 0))
        for (peer, gauge) in followerLag { gauge.set(to: Double(new.followerLag[peer] ?? 0)) }
    }

    public func proposalCommitted(after latency: Duration) {
        proposalsCommitted.increment()
        commitDuration.record(latency)
    }

    public func proposalFailed() {
        proposalsFailed.increment()
    }

    public func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int?) {
        snapshotsCreated.increment()
        snapshotCompressedBytes.set(to: Double(compressedBytes))
        if let rawBytes { snapshotRawBytes.set(to: Double(rawBytes)) }
    }

    public func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?) {
        snapshotsInstalled.increment()
        snapshotLoaded(index: index, compressedBytes: compressedBytes, rawBytes: rawBytes)
    }

    public func snapshotLoaded(index: UInt64, compressedBytes: Int, rawBytes: Int?) {
        snapshotCompressedBytes.set(to: Double(compressedBytes))
        if let rawBytes { snapshotRawBytes.set(to: Double(rawBytes)) }
    }
}

extension RaftMetrics: TransportObserver {
    public func frameSent(to peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {
        if isRequest { rpcSent[rpc]?[peer]?.increment() }
        peerBytesSent[peer]?.increment(by: Int64(bytes))
    }

    public func frameReceived(from peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {
        if isRequest { rpcReceived[rpc]?.increment() }
        peerBytesReceived[peer]?.increment(by: Int64(bytes))
    }

    public func rejected(_ rejection: InboundRejection, direction: ConnectionDirection) {
        malformedPeerFrames.increment()
    }

    public func rpcCompleted(_ rpc: RPCKind, peer: UInt64, latency: TimeAmount) {
        rpcDuration[rpc]?.record(.nanoseconds(latency.nanoseconds))
    }

    public func rpcFailed(_ rpc: RPCKind, peer: UInt64, reason: RPCFailure) {
        rpcFailures[rpc]?[peer]?.increment()
    }
}
