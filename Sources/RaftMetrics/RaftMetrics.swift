import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import RaftCore
import RaftMessages
import RaftNode
import RaftTransport

/// Every metric family of the metrics page (README, "Metrics") in one Prometheus registry. It is
/// the node's and the transport's observer: updates are lock-free or take short locks (the
/// registry's per-metric ones, and this class's table of per-peer families, which grows and
/// shrinks with the membership), never the node loop's time, and rendering the page reads the
/// registry without touching the node.
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
    private let rpcReceived: [RPCKind: Counter]
    private let rpcDuration: [RPCKind: DurationHistogram]
    private let commitDuration: DurationHistogram
    private let proposalsCommitted: Counter
    private let proposalsFailed: Counter
    private let snapshotsCreated: Counter
    private let snapshotsInstalled: Counter
    private let snapshotCompressedBytes: Gauge
    private let snapshotRawBytes: Gauge
    private let snapshotCreateDuration: DurationHistogram
    private let snapshotSendDuration: DurationHistogram
    private let snapshotReceiveDuration: DurationHistogram
    private let snapshotTransfersInFlight: Gauge
    private let snapshotBytesSent: Counter
    private let snapshotBytesReceived: Counter
    private let snapshotRestoreDuration: DurationHistogram
    private let loopLag: DurationHistogram
    private let walFsyncDuration: DurationHistogram
    private let malformedPeerFrames: Counter
    private let malformedClientFrames: Counter
    private let refusedMembers: [Bool: Counter]
    private let configVoters: Gauge
    private let configLearners: Gauge
    private let configJoint: Gauge
    private let isLearner: Gauge
    private let configChangesApplied: Counter
    /// Per-peer families of the members seen so far (the membership changes at run time); any
    /// other id (a member not applied here yet, a stray sender) is counted as peer "other", so
    /// that ids from the wire cannot grow the page without bound.
    private let peers = NIOLockedValueBox<PeerTable>(PeerTable())
    private let otherPeer: PeerFamilies

    private struct PeerTable {
        var families: [UInt64: PeerFamilies] = [:]
        /// Ids that get families of their own: every member of every configuration applied.
        var members: Set<UInt64> = []
    }
    /// Lag gauges of the current members (removed members' gauges are dropped from the page).
    private let lagGauges = NIOLockedValueBox<[UInt64: LagGauge]>([:])

    private struct LagGauge {
        let gauge: Gauge
        let isLearnerLag: Bool
    }
    private let selfID: UInt64
    let process: ProcessMetrics

    /// The counters of one peer.
    private struct PeerFamilies {
        let rpcSent: [RPCKind: Counter]
        let rpcFailures: [RPCKind: Counter]
        let bytesSent: Counter
        let bytesReceived: Counter
    }

    /// Latency buckets from 0.5 ms to 10 s: loopback RPCs to slow disks under load.
    /// Snapshots of gigabytes take tens of seconds.
    static let snapshotBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
    ]

    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(10),
    ]

    /// `peers`: the members known at start (their families appear at once; others as they show up).
    public init(id: UInt64, clusterID: String, peers: [UInt64]) {
        func name(_ metric: String, _ unit: String = "", _ help: String) -> MetricNameDescriptor {
            Self.name(metric, unit, help)
        }
        selfID = id
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
        func perRPC<T>(_ make: (RPCKind) -> T) -> [RPCKind: T] {
            Dictionary(uniqueKeysWithValues: RPCKind.allCases.filter { $0 != .memberRefused }.map { ($0, make($0)) })
        }
        rpcReceived = perRPC { rpc in
            r.makeCounter(descriptor: name("rpc_received", "total", "RPC requests received."), labels: [("rpc", rpc.rawValue)])
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
        let snapshotDuration = name(
            "snapshot_duration", "seconds",
            "Creating a snapshot (view taken to file published, off the loop) and rebuilding the state machine from a leader's.")
        snapshotCreateDuration = r.makeDurationHistogram(
            descriptor: snapshotDuration, labels: [("op", "create")], buckets: Self.snapshotBuckets)
        snapshotRestoreDuration = r.makeDurationHistogram(
            descriptor: snapshotDuration, labels: [("op", "restore")], buckets: Self.snapshotBuckets)
        let transferDuration = name(
            "snapshot_transfer_duration", "seconds",
            "InstallSnapshot transfers: on the leader from the first chunk to the follower's last answer (or the transfer given up), on a follower from the first chunk to the snapshot installed.")
        snapshotSendDuration = r.makeDurationHistogram(
            descriptor: transferDuration, labels: [("side", "send")], buckets: Self.snapshotBuckets)
        snapshotReceiveDuration = r.makeDurationHistogram(
            descriptor: transferDuration, labels: [("side", "receive")], buckets: Self.snapshotBuckets)
        snapshotTransfersInFlight = r.makeGauge(
            descriptor: name("snapshot_transfers_in_flight", "", "Followers the leader is sending a snapshot to."))
        let transferBytes = name("snapshot_transfer_bytes", "total", "InstallSnapshot frames sent and received, in bytes.")
        snapshotBytesSent = r.makeCounter(descriptor: transferBytes, labels: [("direction", "sent")])
        snapshotBytesReceived = r.makeCounter(descriptor: transferBytes, labels: [("direction", "received")])
        loopLag = r.makeDurationHistogram(
            descriptor: name(
                "loop_lag", "seconds", "How late ticks reach the core: from a tick being due to it being stepped."),
            buckets: Self.durationBuckets)
        walFsyncDuration = r.makeDurationHistogram(
            descriptor: name("wal_fsync_duration", "seconds", "Durable-write latency of the write-ahead log."),
            buckets: Self.durationBuckets)
        malformedPeerFrames = r.makeCounter(
            descriptor: name("malformed_frames", "total", "Bad input rejected (connection closed)."), labels: [("port", "peer")])
        malformedClientFrames = r.makeCounter(
            descriptor: name("malformed_frames", "total", "Bad input rejected (connection closed)."), labels: [("port", "client")])
        r.makeGauge(
            descriptor: name("node_info", "", "Always 1; labels identify the node."),
            labels: [("id", "\(id)"), ("cluster", clusterID), ("version", Self.version)]
        ).set(to: 1)
        refusedMembers = Dictionary(
            uniqueKeysWithValues: [true, false].map { removed in
                (removed, r.makeCounter(
                    descriptor: name(
                        "peer_refused", "total",
                        "Envelopes refused from members the configuration does not accept (removed, or another incarnation)."),
                    labels: [("reason", removed ? "removed" : "other_incarnation")]))
            })
        configVoters = r.makeGauge(
            descriptor: name("config_voters", "", "Voters of the configuration this member has applied (the incoming ones while joint)."))
        configLearners = r.makeGauge(descriptor: name("config_learners", "", "Learners of the applied configuration."))
        configJoint = r.makeGauge(descriptor: name("config_joint", "", "1 while the applied configuration is joint (§6), else 0."))
        isLearner = r.makeGauge(descriptor: name("is_learner", "", "1 if this member is a learner, else 0."))
        configChangesApplied = r.makeCounter(
            descriptor: name("config_changes_applied", "total", "Configuration changes this member has applied."))
        process = ProcessMetrics(registry: r)
        states["follower"]?.set(to: 1)
        otherPeer = Self.makeFamilies(registry: r, label: "other")
        allow(peers.filter { $0 != id })
    }

    /// Gives `ids` families of their own.
    private func allow(_ ids: [UInt64]) {
        let r = registry
        let missing = peers.withLockedValue { table in
            table.members.formUnion(ids)
            return ids.filter { table.families[$0] == nil }
        }
        let made = missing.map { ($0, Self.makeFamilies(registry: r, label: "\($0)")) }
        peers.withLockedValue { table in
            for (id, families) in made where table.families[id] == nil { table.families[id] = families }
        }
    }

    static func name(_ metric: String, _ unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "raft", metricName: metric, unitName: unit, helpText: help)
    }

    /// The counters of `peer` (those of peer "other" if it is not a member seen so far).
    private func families(of peer: UInt64) -> PeerFamilies {
        peers.withLockedValue { $0.families[peer] } ?? otherPeer
    }

    private static func makeFamilies(registry r: PrometheusCollectorRegistry, label: String) -> PeerFamilies {
        func perRPC(_ make: (RPCKind) -> Counter) -> [RPCKind: Counter] {
            Dictionary(uniqueKeysWithValues: RPCKind.allCases.filter { $0 != .memberRefused }.map { ($0, make($0)) })
        }
        return PeerFamilies(
            rpcSent: perRPC { rpc in
                r.makeCounter(
                    descriptor: name("rpc_sent", "total", "RPC requests sent."), labels: [("rpc", rpc.rawValue), ("peer", label)])
            },
            rpcFailures: perRPC { rpc in
                r.makeCounter(
                    descriptor: name("rpc_failures", "total", "RPCs that got no answer: timeouts, lost connections, not sent."),
                    labels: [("rpc", rpc.rawValue), ("peer", label)])
            },
            bytesSent: r.makeCounter(
                descriptor: name("peer_bytes_sent", "total", "Bytes sent to the peer."), labels: [("peer", label)]),
            bytesReceived: r.makeCounter(
                descriptor: name("peer_bytes_received", "total", "Bytes received from the peer."), labels: [("peer", label)]))
    }

    /// The leader's lag gauges: `raft_follower_lag_entries` for voters, `raft_learner_lag_entries`
    /// for learners (how far a learner is from being promotable). Gauges of peers that left the
    /// configuration, or changed role, are removed from the page.
    private func updateLag(_ lag: [UInt64: UInt64], configuration: Configuration) {
        let r = registry
        lagGauges.withLockedValue { gauges in
            for (peer, gauge) in gauges where lag[peer] == nil || configuration.isLearner(peer) != gauge.isLearnerLag {
                r.unregisterGauge(gauge.gauge)
                gauges[peer] = nil
            }
            for (peer, entries) in lag {
                let learner = configuration.isLearner(peer)
                let gauge =
                    gauges[peer]
                    ?? LagGauge(
                        gauge: learner
                            ? r.makeGauge(
                                descriptor: Self.name(
                                    "learner_lag_entries", "", "On the leader: last log index minus the learner's match index."),
                                labels: [("peer", "\(peer)")])
                            : r.makeGauge(
                                descriptor: Self.name(
                                    "follower_lag_entries", "", "On the leader: last log index minus the peer's match index."),
                                labels: [("peer", "\(peer)")]),
                        isLearnerLag: learner)
                gauges[peer] = gauge
                gauge.gauge.set(to: Double(entries))
            }
        }
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
        snapshotTransfersInFlight.set(to: Double(new.snapshotTransfers.count))
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
        // On the leader every other member has a lag; elsewhere none is shown.
        updateLag(new.followerLag, configuration: new.configuration)
    }

    public func configurationChanged(to configuration: Configuration, byChange: Bool) {
        configVoters.set(to: Double(configuration.voters.count))
        configLearners.set(to: Double(configuration.learners.count))
        configJoint.set(to: configuration.isJoint ? 1 : 0)
        isLearner.set(to: configuration.isLearner(selfID) ? 1 : 0)
        if byChange { configChangesApplied.increment() }
        allow(configuration.memberIDs.filter { $0 != selfID })
    }

    public func proposalCommitted(after latency: Duration) {
        proposalsCommitted.increment()
        commitDuration.record(latency)
    }

    public func proposalFailed() {
        proposalsFailed.increment()
    }

    public func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int, duration: Duration) {
        snapshotsCreated.increment()
        snapshotCreateDuration.record(duration)
        snapshotLoaded(index: index, compressedBytes: compressedBytes, rawBytes: rawBytes)
    }

    public func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?, duration: Duration) {
        snapshotsInstalled.increment()
        snapshotRestoreDuration.record(duration)
        snapshotLoaded(index: index, compressedBytes: compressedBytes, rawBytes: rawBytes)
    }

    public func ticksStepped(_ count: Int, lag: Duration) {
        loopLag.record(lag)
    }

    public func snapshotTransferEnded(side: SnapshotTransferSide, duration: Duration) {
        (side == .send ? snapshotSendDuration : snapshotReceiveDuration).record(duration)
    }

    public func snapshotLoaded(index: UInt64, compressedBytes: Int, rawBytes: Int?) {
        snapshotCompressedBytes.set(to: Double(compressedBytes))
        if let rawBytes { snapshotRawBytes.set(to: Double(rawBytes)) }
    }
}

extension RaftMetrics: TransportObserver {
    public func frameSent(to peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {
        let families = families(of: peer)
        if isRequest { families.rpcSent[rpc]?.increment() }
        families.bytesSent.increment(by: Int64(bytes))
        if rpc == .installSnapshot && isRequest { snapshotBytesSent.increment(by: Int64(bytes)) }
    }

    public func frameReceived(from peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {
        if isRequest { rpcReceived[rpc]?.increment() }
        families(of: peer).bytesReceived.increment(by: Int64(bytes))
        if rpc == .installSnapshot && isRequest { snapshotBytesReceived.increment(by: Int64(bytes)) }
    }

    public func rejected(_ rejection: InboundRejection, direction: ConnectionDirection) {
        if case .refusedMember(_, let refusal) = rejection {
            refusedMembers[refusal.removed]?.increment()
        } else {
            malformedPeerFrames.increment()
        }
    }

    public func rpcCompleted(_ rpc: RPCKind, peer: UInt64, latency: TimeAmount) {
        rpcDuration[rpc]?.record(.nanoseconds(latency.nanoseconds))
    }

    public func rpcFailed(_ rpc: RPCKind, peer: UInt64, reason: RPCFailure) {
        families(of: peer).rpcFailures[rpc]?.increment()
    }
}
