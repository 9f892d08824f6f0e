import NIOCore
import RaftCore
import RaftMessages

/// How a `RaftNode` runs: its place in the cluster, its timing and when it snapshots.
public struct RaftNodeConfiguration: Sendable {
    /// This member's id (never 0).
    public var id: UInt64
    /// The voters of a brand-new cluster, this member included. On an empty storage the node
    /// writes them into the log as the cluster's first configuration (`RawNode.bootstrap`);
    /// every initial member must be given the same records. Empty to join a running cluster: the
    /// node then waits for the leader to send it the log (it never campaigns until a
    /// configuration makes it a voter). Ignored once the storage holds anything: the membership
    /// is then what the log and the snapshot say.
    public var initialMembers: [Member]
    /// This member's client address, published in the replicated configuration so that other
    /// members can redirect clients here ("" for none).
    public var clientAddress: String
    /// The voters of a storage written before the first configuration was kept in the log
    /// (neither a snapshot configuration nor a configuration entry at index 1): its membership is
    /// this list. Defaults to `initialMembers`' ids.
    public var legacyMembers: [UInt64]?
    /// A leader sends a heartbeat at least this often (§5.2).
    public var heartbeatInterval: TimeAmount
    /// A follower that hears no leader for a random time in [t, 2t) starts an election (§5.2).
    public var electionTimeout: TimeAmount
    /// Take a snapshot after this many entries were applied since the last one (§7); 0: never.
    public var snapshotEntries: UInt64
    /// After a snapshot, keep this many entries before it in the log so that a follower only
    /// slightly behind catches up with entries rather than a whole snapshot.
    public var entriesKeptAfterSnapshot: UInt64
    /// Core options (pre-vote, check-quorum, flow control, seed). `id`, `voters`, `member`, the
    /// tick counts and `applied` are set by the node from the fields above.
    public var core: Config

    /// The voters of a new cluster by id (`initialMembers` without addresses), or none to join
    /// a running one.
    public var members: [UInt64] {
        get { initialMembers.map(\.id) }
        set { initialMembers = newValue.map { Member(id: $0) } }
    }

    public init(
        id: UInt64, members: [UInt64], heartbeatInterval: TimeAmount = .milliseconds(100),
        electionTimeout: TimeAmount = .milliseconds(1000), snapshotEntries: UInt64 = 10_000,
        entriesKeptAfterSnapshot: UInt64 = 1_000
    ) {
        self.id = id
        self.initialMembers = members.map { Member(id: $0) }
        self.clientAddress = ""
        self.legacyMembers = nil
        self.heartbeatInterval = heartbeatInterval
        self.electionTimeout = electionTimeout
        self.snapshotEntries = snapshotEntries
        self.entriesKeptAfterSnapshot = entriesKeptAfterSnapshot
        self.core = Config(id: id, voters: members, randomSeed: UInt64.random(in: 1...UInt64.max))
    }

    /// The node ticks ten times per heartbeat interval, so election timeouts are randomized at
    /// a tenth of the heartbeat's resolution.
    var tickInterval: TimeAmount {
        .nanoseconds(max(heartbeatInterval.nanoseconds / 10, 1_000_000))
    }

    /// The core configuration with ticks derived from the intervals.
    func coreConfig(applied: UInt64, voters: [UInt64], incarnation: UInt64) throws -> Config {
        guard heartbeatInterval.nanoseconds > 0, electionTimeout > heartbeatInterval else {
            throw RaftNodeError.invalidConfiguration(
                "the election timeout (\(electionTimeout)) must exceed the heartbeat interval (\(heartbeatInterval))")
        }
        var config = core
        config.id = id
        config.voters = voters
        config.member = Member(id: id, clientAddress: clientAddress, incarnation: incarnation)
        config.heartbeatTick = Int(max(1, heartbeatInterval.nanoseconds / tickInterval.nanoseconds))
        config.electionTick = Int(max(Int64(config.heartbeatTick + 1), electionTimeout.nanoseconds / tickInterval.nanoseconds))
        config.applied = applied
        return config
    }
}

/// Why a node refused or could not finish a request.
public enum RaftNodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Proposals go to the leader; `leaderID` is the one this node knows (0: none).
    case notLeader(leaderID: UInt64)
    /// The proposal's entry was replaced by another leader's before it committed: it did not
    /// and will not apply. Retrying is safe.
    case leadershipChanged
    /// The node is shutting down or has stopped.
    case stopped
    /// Persisting failed: the node stopped acknowledging anything (it cannot know what is durable).
    case storageFailed(String)
    case invalidConfiguration(String)
    /// The leader refused a configuration change (nothing was appended); the text says why.
    case configChangeRefused(String, transient: Bool)
    /// A leadership transfer could not start (the target is a learner, not a member, or no
    /// voter is reachable).
    case transferFailed(String)
    /// The target did not take over in time (it was slow to catch up, or its campaign lost a
    /// race). Asking again is safe: a transfer to the member that leads already succeeds.
    case transferTimedOut(UInt64)
    /// A leadership transfer is in progress: the proposal was not appended. Retry with the new
    /// leader.
    case transferInProgress
    /// This member was removed from the cluster and is no longer needed by it.
    case removed(UInt64)
    /// The cluster refused this member (a peer sent `MemberRefused`); the text says why.
    case refused(String)
    /// No leader confirmed a linearizable read (leadership changed, or the leader did not
    /// answer within an election timeout). Retrying is safe.
    case readNotConfirmed
    /// The member is replacing its state by a snapshot from the leader: local reads wait until
    /// it is done (or go to another member).
    case restoring

    public var description: String {
        switch self {
        case .notLeader(let leader): leader == 0 ? "not the leader (no leader known)" : "not the leader (leader is \(leader))"
        case .leadershipChanged: "leadership changed before the entry committed"
        case .stopped: "node stopped"
        case .storageFailed(let reason): "storage failed: \(reason)"
        case .invalidConfiguration(let reason): "invalid configuration: \(reason)"
        case .configChangeRefused(let reason, _): "configuration change refused: \(reason)"
        case .transferFailed(let reason): "leadership transfer failed: \(reason)"
        case .transferTimedOut(let target): "member \(target) did not take over in time; retry"
        case .transferInProgress: "a leadership transfer is in progress; retry with the new leader"
        case .removed(let id): "member \(id) was removed from the cluster"
        case .refused(let reason): reason
        case .readNotConfirmed: "no leader confirmed the read (leadership changed or the leader did not answer); retry"
        case .restoring: "this member is installing a snapshot from the leader; retry, or read from another member"
        }
    }
}

/// Where a node's outbound messages go (the peer transport, or an in-process network in tests).
/// `send` must not block: a slow peer may lose messages, never stall the node.
public protocol MessageSender: Sendable {
    func send(_ message: Message)
}
