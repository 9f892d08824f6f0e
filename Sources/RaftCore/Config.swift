import RaftMessages

/// How a `RawNode` behaves. Time is counted in ticks: the driver calls `RawNode.tick()` at a fixed
/// interval and chooses that interval, so the core never reads a clock.
public struct Config: Sendable, Hashable {
    /// This node's id; never 0.
    public var id: UInt64
    /// The voters (this node included) when storage holds no configuration: a member of a
    /// cluster whose first configuration is not in the log (tests, and data directories that
    /// predate replicated configurations). Empty for a member that joins a running cluster, or
    /// whose storage was bootstrapped (`RawNode.bootstrap`).
    public var voters: [UInt64]
    /// This node's own record as it runs now: its client address and incarnation. When the
    /// configuration records it differently, the node announces it in its AppendEntries answers
    /// (or, as leader, proposes it) so that the replicated configuration catches up. Nil: never.
    public var member: Member?
    /// Refuse configuration changes after which fewer voters than a quorum would be reachable,
    /// and promotions of learners that have not caught up (etcd's `--strict-reconfig-check`).
    public var strictReconfigCheck: Bool
    /// A learner may be promoted once its log is within this many entries of the leader's.
    public var maxPromotionLag: UInt64
    /// A follower that hears nothing from a leader for a randomized timeout drawn from
    /// `[electionTick, 2 * electionTick)` starts an election (§5.2).
    public var electionTick: Int
    /// A leader sends heartbeats every `heartbeatTick` ticks (§5.2); must be below `electionTick`.
    public var heartbeatTick: Int
    /// At most this many bytes of entries (their `wireSize`) in one AppendEntries; a single larger
    /// entry still travels alone.
    public var maxSizePerMsg: Int
    /// At most this many entries in one AppendEntries.
    public var maxEntriesPerMsg: Int
    /// At most this many AppendEntries carrying entries in flight to one follower (pipelining).
    public var maxInflightMsgs: Int
    /// At most this many bytes of committed entries in one `Ready` (at least one entry), so a
    /// restart with a long unapplied log does not hand the driver everything at once.
    public var maxCommittedSizePerReady: Int
    /// Snapshot data travels in InstallSnapshot chunks of at most this many bytes.
    public var maxSnapshotChunkBytes: Int
    /// At most this many snapshot chunks in flight to one follower.
    public var maxSnapshotChunksInFlight: Int
    /// Pre-vote (Raft thesis §9.6): a node first asks whether it could win before it increments
    /// its term, so a node that was partitioned away does not disrupt the cluster on return.
    public var preVote: Bool
    /// Check-quorum (thesis §6.2): a leader that has not heard from a majority within an election
    /// timeout steps down, and a follower that heard from a leader within the timeout ignores
    /// vote requests (the leader lease of §4.2.3).
    public var checkQuorum: Bool
    /// A new leader appends an empty entry of its term (§8) so that entries of earlier terms
    /// commit without waiting for a client command. It shifts the indices clients see.
    public var noopOnElection: Bool
    /// Seed of the generator of randomized election timeouts.
    public var randomSeed: UInt64
    /// The last index the state machine has applied (0: start from the storage's snapshot).
    public var applied: UInt64

    public init(
        id: UInt64, voters: [UInt64], electionTick: Int = 10, heartbeatTick: Int = 1,
        maxSizePerMsg: Int = 1 << 20, maxEntriesPerMsg: Int = 4096, maxInflightMsgs: Int = 256,
        maxCommittedSizePerReady: Int = 16 << 20,
        maxSnapshotChunkBytes: Int = 1 << 20, maxSnapshotChunksInFlight: Int = 4,
        preVote: Bool = true, checkQuorum: Bool = true, noopOnElection: Bool = true,
        randomSeed: UInt64 = 0, applied: UInt64 = 0, member: Member? = nil, strictReconfigCheck: Bool = true,
        maxPromotionLag: UInt64 = 1000
    ) {
        self.id = id
        self.voters = voters
        self.member = member
        self.strictReconfigCheck = strictReconfigCheck
        self.maxPromotionLag = maxPromotionLag
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.maxSizePerMsg = maxSizePerMsg
        self.maxEntriesPerMsg = maxEntriesPerMsg
        self.maxInflightMsgs = maxInflightMsgs
        self.maxCommittedSizePerReady = maxCommittedSizePerReady
        self.maxSnapshotChunkBytes = maxSnapshotChunkBytes
        self.maxSnapshotChunksInFlight = maxSnapshotChunksInFlight
        self.preVote = preVote
        self.checkQuorum = checkQuorum
        self.noopOnElection = noopOnElection
        self.randomSeed = randomSeed
        self.applied = applied
    }

    func validate() throws {
        if id == 0 { throw RaftError.invalidConfig("id must not be 0") }
        if heartbeatTick <= 0 { throw RaftError.invalidConfig("heartbeatTick must be positive") }
        if electionTick <= heartbeatTick {
            throw RaftError.invalidConfig("electionTick must be greater than heartbeatTick")
        }
        if maxSizePerMsg <= 0 || maxEntriesPerMsg <= 0 {
            throw RaftError.invalidConfig("maxSizePerMsg and maxEntriesPerMsg must be positive")
        }
        if maxInflightMsgs <= 0 { throw RaftError.invalidConfig("maxInflightMsgs must be positive") }
        if maxCommittedSizePerReady <= 0 {
            throw RaftError.invalidConfig("maxCommittedSizePerReady must be positive")
        }
        if maxSnapshotChunkBytes <= 0 || maxSnapshotChunksInFlight <= 0 {
            throw RaftError.invalidConfig("snapshot chunk size and window must be positive")
        }
    }
}
