import RaftMessages
import RaftWire

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
    /// The configuration this node has applied.
    public var configuration: Configuration
    /// On the leader: the voter leadership is being handed to (0: none).
    public var leadTransferee: UInt64
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

    /// Asks for a linearizable read (thesis §6.4 ReadIndex) on any member: a later `Ready`
    /// carries a `ReadState` with `requestID` once the leader has confirmed its leadership (a
    /// follower or learner forwards the read to the leader it knows); answer the read from this
    /// node's state machine after applying through the state's `index`. If the read cannot be
    /// confirmed (leadership changed, the leader refused or did not answer within an election
    /// timeout) its id comes back in `Ready.droppedReads` instead: answer it with a retriable
    /// error. Throws `RaftError.notLeader` when no leader is known (a candidate, a follower
    /// that has not heard from a leader in its term).
    public func readIndex(_ requestID: UInt64) throws {
        try raft.readIndex(requestID)
    }

    /// Feeds a message received from a peer. Messages from a member that was removed are
    /// refused (they could otherwise raise this node's term) — all but one: the `TimeoutNow` of
    /// the leader of the current term handing over after its own removal (it starts this node's
    /// election, among the voters that remain). Messages from ids the applied configuration does
    /// not know yet are accepted: a member added by a change this node has not applied may
    /// already lead, and this node learns of the change only from it.
    public func step(_ message: Message) throws {
        guard message.to == raft.id else { throw RaftError.unknownPeer(message.to) }
        if raft.configuration.isRemoved(message.from) && !Self.isHandOver(message, leader: raft.lead, term: raft.term) {
            throw RaftError.unknownPeer(message.from)
        }
        raft.step(message)
    }

    /// A removed leader's `TimeoutNow` in the term it led: the one message of a removed member
    /// that is heard (see `step`). The transport applies the same exception.
    public static func isHandOver(_ message: Message, leader: UInt64, term: UInt64) -> Bool {
        guard case .timeoutNow(let request) = message.body else { return false }
        return request.term == term && message.from == leader
    }

    /// Writes the first configuration of a brand-new cluster into the log (etcd's
    /// `RawNode.Bootstrap`): one `ENTRY_CONFIG` at index 1, term 1, committed, adding every voter
    /// of `members`. Every initial member bootstraps with the same `members` (no incarnations,
    /// client addresses only if every member is given them), so their logs agree; members that
    /// join later receive this entry, or a snapshot, like any other. Only on empty storage with
    /// no `Config.voters`; the first `Ready` persists and applies it.
    public func bootstrap(_ members: [Member]) throws {
        guard raft.log.lastIndex == 0, raft.term == 0, raft.configuration.isEmpty else {
            throw RaftError.invalidConfig("bootstrap needs empty storage and no Config.voters")
        }
        let sorted = members.sorted { $0.id < $1.id }
        guard !sorted.isEmpty, Set(sorted.map(\.id)).count == sorted.count, !sorted.contains(where: { $0.id == 0 }) else {
            throw RaftError.invalidConfig("bootstrap needs at least one member and distinct nonzero ids")
        }
        let data: [UInt8]
        do {
            data = try ConfigChange(sorted.map { .addVoter($0) }).serializedBytes()
        } catch {
            throw RaftError.invalidConfig("cannot encode the bootstrap configuration: \(error)")
        }
        raft.becomeFollower(term: 1, lead: 0)
        raft.log.append([LogEntry(index: 1, term: 1, type: .config, data: data)])
        raft.log.commit(to: 1)
    }

    /// Proposes a configuration change (§6) and returns the index of its `ENTRY_CONFIG` entry. It
    /// takes effect on each member as that member applies it; the leader refuses it
    /// (`RaftError.configChangeRefused`, nothing appended) when another change is not applied
    /// yet, before it has committed an entry of its term, when it is not valid for the current
    /// configuration, or (with `Config.strictReconfigCheck`) when it would leave fewer reachable
    /// voters than a quorum or promotes a learner that has not caught up.
    @discardableResult
    public func proposeConfigChange(_ change: ConfigChange) throws -> UInt64 {
        try raft.proposeConfigChange(change)
    }

    /// Starts handing leadership to voter `target` (thesis §3.10): proposals are dropped
    /// (`RaftError.proposalDropped`) until it completes or, after an election timeout, is
    /// abandoned. Throws `notLeader` on other nodes and `transferRefused` for a learner or a
    /// non-member.
    public func transferLeadership(to target: UInt64) throws {
        try raft.transferLeadership(to: target)
    }

    /// On the leader: the voter to hand leadership to when leaving — the most up-to-date of the
    /// other voters heard from within an election timeout (nil if none, or not the leader).
    public func bestTransferee(excluding excluded: Set<UInt64> = []) -> UInt64? {
        raft.bestTransferee(excluding: excluded)
    }

    /// True when `ready()` has something to do.
    public var hasReady: Bool {
        if raft.pendingBroadcast || !raft.msgs.isEmpty { return true }
        if raft.reads.roundDue || !raft.reads.ready.isEmpty { return true }
        if raft.forwardedReads.batchDue || !raft.droppedReads.isEmpty { return true }
        if raft.hardState != prevHardState { return true }
        if raft.log.unstable.snapshot != nil || !raft.log.unstableEntries.isEmpty || !raft.snapshotChunks.isEmpty {
            return true
        }
        return raft.log.hasNextCommittedEntries
    }

    /// While the driver persists a `Ready` (between `ready()` and `advance(_:)`): the messages
    /// produced since that may leave before any write — the leader's AppendEntries (heartbeats
    /// included) and InstallSnapshot requests, thesis §10.2.1 — taken out of what the next
    /// `Ready` would carry, so that a slow disk does not hold back heartbeats. Answers and vote
    /// requests wait for the next `Ready`: they may acknowledge what is not durable yet.
    public func takeUrgentMessages() -> [Message] {
        raft.flushProposals()
        if raft.role == .leader { raft.flushReads() }
        guard !raft.msgs.isEmpty else { return [] }
        let (urgent, later) = Self.splitByDurability(raft.msgs)
        raft.msgs = later
        return urgent
    }

    /// Thesis §10.2.1: the leader's replication requests do not depend on its own disk, so they
    /// may leave before the write; every answer (and a vote request, whose self-vote must be
    /// durable first) waits for it.
    private static func splitByDurability(_ messages: [Message]) -> (now: [Message], afterPersist: [Message]) {
        var now: [Message] = []
        var afterPersist: [Message] = []
        for message in messages {
            switch message.body {
            case .appendEntries, .installSnapshot: now.append(message)
            default: afterPersist.append(message)
            }
        }
        return (now, afterPersist)
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
        let (now, afterPersist) = Self.splitByDurability(raft.msgs)
        let ready = Ready(
            hardState: changed ? hardState : nil, entries: entries, snapshotChunks: raft.snapshotChunks, snapshot: snapshot,
            committedEntries: raft.log.nextCommittedEntries(maxSize: raft.config.maxCommittedSizePerReady),
            messages: now, messagesAfterPersist: afterPersist, readStates: raft.reads.ready,
            droppedReads: raft.droppedReads, mustSync: mustSync)
        raft.msgs = []
        raft.snapshotChunks = []
        raft.reads.ready = []
        raft.droppedReads = []
        return ready
    }

    /// Acknowledges that `ready` was processed: its entries and snapshot are durable and its
    /// committed entries applied.
    /// Configuration changes in `committedEntries` (and a snapshot's configuration) take
    /// effect here, as they are applied.
    public func advance(_ ready: Ready) {
        if let hardState = ready.hardState { prevHardState = hardState }
        if let last = ready.entries.last {
            raft.log.stableTo(index: last.index, term: last.term)
            raft.persisted(through: last.index, term: last.term)
        }
        if let snapshot = ready.snapshot {
            raft.log.stableSnapshotTo(snapshot.metadata.index)
            raft.log.applied(to: snapshot.metadata.index)
            // A snapshot from a leader that predates replicated configurations carries none.
            if !snapshot.metadata.configuration.isEmpty {
                raft.switchConfiguration(to: snapshot.metadata.configuration)
            }
        }
        let appliedBefore = raft.log.applied
        // By index: reading `type` in place spares a retain and release of every entry's data.
        let committed = ready.committedEntries
        for i in committed.indices where committed[i].type == .config && committed[i].index > raft.log.applied {
            raft.log.applied(to: committed[i].index)
            raft.applyConfigEntry(committed[i])
        }
        if let last = ready.committedEntries.last, last.index > raft.log.applied { raft.log.applied(to: last.index) }
        // The leader's pending change (or the changes in its log at election) just got applied:
        // the next change (leaving a joint configuration, a record update) may go now.
        if raft.pendingConfIndex > appliedBefore && raft.pendingConfIndex <= raft.log.applied {
            raft.proposeAutomaticConfigChange()
        }
        raft.campaignIfAskedOnceApplied()
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
    /// The voters of the applied configuration (both halves of a joint one).
    public var voters: [UInt64] { raft.quorum.voters }
    /// The configuration this node has applied (§6: a change takes effect when applied).
    public var configuration: Configuration { raft.configuration }
    /// The configuration once `ready`'s committed entries through `index` are applied, for a
    /// driver that snapshots in the middle of a `Ready` (`configuration` moves only at
    /// `advance`). A snapshot must carry the configuration as of its own index (§7).
    public func configuration(through index: UInt64, of ready: Ready) -> Configuration {
        var configuration = raft.configuration
        for entry in ready.committedEntries where entry.index <= index && entry.index > raft.log.applied {
            if configuration.isEmpty && entry.index != 1 { continue }
            if let next = ConfigurationChanger.applying(entry, to: configuration) { configuration = next }
        }
        return configuration
    }

    /// The log holds a configuration change this node has not applied yet.
    public var hasUnappliedConfigChange: Bool { !raft.unappliedConfigChanges().isEmpty }

    /// This node was removed from the cluster (by a change it has applied).
    public var isRemoved: Bool { raft.configuration.isRemoved(raft.id) }

    /// This node was removed, and another member leads with a commit index that covers the
    /// removal: the cluster no longer needs this member, which may stop. (Until then it may
    /// still be needed: a voter that has not learnt the removal is committed counts its vote.)
    public var removalIsKnownToLeader: Bool {
        raft.removalIndex != 0 && raft.lead != 0 && raft.lead != raft.id && raft.leaderCommit >= raft.removalIndex
    }
    /// Reads handed to `readIndex(_:)` and not yet confirmed or dropped.
    public var hasPendingReads: Bool { !raft.reads.isEmpty || !raft.forwardedReads.isEmpty }

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
                ? 0 : raft.leaderCommit - raft.log.committed,
            configuration: raft.configuration, leadTransferee: raft.leadTransferee)
    }
}
