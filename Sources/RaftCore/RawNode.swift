import RaftMessages

/// A snapshot of a node's observable state (etcd's `Status`).
public struct Status: Sendable, Hashable {
    public var id: UInt64
    public var role: Role
    public var term: UInt64
    public var vote: UInt64
    public var leaderID: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var firstIndex: UInt64
    public var lastIndex: UInt64
    /// On the leader: what it knows of each follower (for lag metrics); empty elsewhere.
    public var progress: [UInt64: PeerProgress]
    /// How far this node's commit index trails the leader's as last heard (0 on the leader and
    /// when no leader was heard in this term).
    public var commitLag: UInt64
}

/// The leader's view of one follower.
public struct PeerProgress: Sendable, Hashable {
    /// Highest index known to be replicated there (Figure 2 `matchIndex`).
    public var match: UInt64
    /// Next index to send (Figure 2 `nextIndex`).
    public var next: UInt64
    public var state: ProgressState
}

/// The driver's handle on one Raft node (etcd's `RawNode`): single-threaded and free of I/O.
///
/// The driver calls `tick()` at a fixed interval, `step(_:)` for every message received from a
/// peer and `propose(_:)` for client commands; after any of these it checks `hasReady`, and
/// processes `ready()` as `Ready` documents, ending with `advance(_:)`.
public final class RawNode {
    let raft: Raft
    private var prevHardState: HardState

    /// Creates a node from what `storage` holds (a restart recovers term, vote, log, snapshot).
    public init(config: Config, storage: any Storage) throws {
        raft = try Raft(config: config, storage: storage)
        prevHardState = raft.hardState
    }

    /// Advances logical time by one tick: election timeouts and heartbeats are counted in ticks.
    public func tick() {
        raft.tick()
    }

    /// Starts an election now (or a pre-vote, when enabled) instead of waiting for the timeout.
    public func campaign() {
        raft.hup()
    }

    /// Appends a client command to the leader's log and returns its index. Throws
    /// `RaftError.notLeader` on a follower or candidate. A returned index is not a promise: the
    /// entry commits only if this leader keeps its leadership long enough.
    @discardableResult
    public func propose(_ data: [UInt8]) throws -> UInt64 {
        try raft.propose(data)
    }

    /// Asks for a linearizable read (thesis §6.4 ReadIndex). On the leader, a later `Ready`
    /// carries a `ReadState` with `requestID` once leadership is confirmed; answer the read from
    /// the state machine after applying through its `index`. Throws `RaftError.notLeader` on
    /// other nodes. A read is silently dropped if this node stops leading before confirming it:
    /// drivers fail reads still waiting when the term or role changes.
    public func readIndex(_ requestID: UInt64) throws {
        try raft.readIndex(requestID)
    }

    /// Feeds a message received from a peer.
    public func step(_ message: Message) throws {
        guard message.to == raft.id else { throw RaftError.unknownPeer(message.to) }
        guard raft.voters.voters.contains(message.from) else { throw RaftError.unknownPeer(message.from) }
        raft.step(message)
    }

    /// True when `ready()` has something to do.
    public var hasReady: Bool {
        if raft.pendingBroadcast || !raft.msgs.isEmpty { return true }
        if raft.reads.roundWanted || !raft.reads.ready.isEmpty { return true }
        if raft.hardState != prevHardState { return true }
        if raft.log.unstable.snapshot != nil || !raft.log.unstableEntries.isEmpty { return true }
        return raft.log.hasNextCommittedEntries
    }

    /// Collects what must be persisted, sent and applied. See `Ready` for the order.
    public func ready() -> Ready {
        raft.flushProposals()
        raft.flushReads()
        let hardState = raft.hardState
        let changed = hardState != prevHardState
        let entries = raft.log.unstableEntries
        let snapshot = raft.log.unstable.snapshot
        let mustSync =
            !entries.isEmpty || snapshot != nil || hardState.term != prevHardState.term
            || hardState.vote != prevHardState.vote
        // Thesis §10.2.1: the leader's replication requests do not depend on its own disk, so
        // they may leave before the write; every answer (and a vote request, whose self-vote must
        // be durable first) waits for it.
        var now: [Message] = []
        var afterPersist: [Message] = []
        for message in raft.msgs {
            switch message.body {
            case .appendEntries, .installSnapshot: now.append(message)
            default: afterPersist.append(message)
            }
        }
        let ready = Ready(
            hardState: changed ? hardState : nil, entries: entries, snapshot: snapshot,
            committedEntries: raft.log.nextCommittedEntries(maxSize: raft.config.maxCommittedSizePerReady),
            messages: now, messagesAfterPersist: afterPersist, readStates: raft.reads.ready, mustSync: mustSync)
        raft.msgs = []
        raft.reads.ready = []
        return ready
    }

    /// Acknowledges that `ready` was processed: its entries and snapshot are durable and its
    /// committed entries applied.
    public func advance(_ ready: Ready) {
        if let hardState = ready.hardState { prevHardState = hardState }
        if let last = ready.entries.last {
            raft.log.stableTo(index: last.index, term: last.term)
            raft.persisted(through: last.index, term: last.term)
        }
        if let snapshot = ready.snapshot {
            raft.log.stableSnapshotTo(snapshot.metadata.index)
            raft.log.applied(to: snapshot.metadata.index)
        }
        if let last = ready.committedEntries.last { raft.log.applied(to: last.index) }
    }

    public var id: UInt64 { raft.id }
    public var term: UInt64 { raft.term }
    public var role: Role { raft.role }
    public var isLeader: Bool { raft.role == .leader }
    /// The leader this node knows for the current term (0: none).
    public var leaderID: UInt64 { raft.lead }
    public var commitIndex: UInt64 { raft.log.committed }
    public var appliedIndex: UInt64 { raft.log.applied }
    public var firstIndex: UInt64 { raft.log.firstIndex }
    public var lastIndex: UInt64 { raft.log.lastIndex }
    public var voters: [UInt64] { raft.voters.voters }
    /// Reads handed to `readIndex(_:)` and not yet confirmed or dropped.
    public var hasPendingReads: Bool { !raft.reads.isEmpty }

    public var status: Status {
        Status(
            id: raft.id, role: raft.role, term: raft.term, vote: raft.vote, leaderID: raft.lead,
            commitIndex: raft.log.committed, appliedIndex: raft.log.applied, firstIndex: raft.log.firstIndex,
            lastIndex: raft.log.lastIndex,
            progress: raft.role == .leader
                ? raft.progress.filter { $0.key != raft.id }.mapValues {
                    PeerProgress(match: $0.match, next: $0.next, state: $0.state)
                } : [:],
            commitLag: raft.role == .leader || raft.leaderCommit <= raft.log.committed
                ? 0 : raft.leaderCommit - raft.log.committed)
    }
}
