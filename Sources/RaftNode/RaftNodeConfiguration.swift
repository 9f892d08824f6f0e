import NIOCore
import RaftCore

/// How a `RaftNode` runs: its place in the cluster, its timing and when it snapshots.
public struct RaftNodeConfiguration: Sendable {
    /// This member's id (never 0).
    public var id: UInt64
    /// Every voting member's id, this one included.
    public var members: [UInt64]
    /// A leader sends a heartbeat at least this often (§5.2).
    public var heartbeatInterval: TimeAmount
    /// A follower that hears no leader for a random time in [t, 2t) starts an election (§5.2).
    public var electionTimeout: TimeAmount
    /// Take a snapshot after this many entries were applied since the last one (§7); 0: never.
    public var snapshotEntries: UInt64
    /// After a snapshot, keep this many entries before it in the log so that a follower only
    /// slightly behind catches up with entries rather than a whole snapshot.
    public var entriesKeptAfterSnapshot: UInt64
    /// Core options (pre-vote, check-quorum, flow control, seed). `id`, `voters`, the tick
    /// counts and `applied` are set by the node from the fields above.
    public var core: Config

    public init(
        id: UInt64, members: [UInt64], heartbeatInterval: TimeAmount = .milliseconds(100),
        electionTimeout: TimeAmount = .milliseconds(1000), snapshotEntries: UInt64 = 10_000,
        entriesKeptAfterSnapshot: UInt64 = 1_000
    ) {
        self.id = id
        self.members = members
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
    func coreConfig(applied: UInt64) throws -> Config {
        guard heartbeatInterval.nanoseconds > 0, electionTimeout > heartbeatInterval else {
            throw RaftNodeError.invalidConfiguration(
                "the election timeout (\(electionTimeout)) must exceed the heartbeat interval (\(heartbeatInterval))")
        }
        var config = core
        config.id = id
        config.voters = members
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

    public var description: String {
        switch self {
        case .notLeader(let leader): leader == 0 ? "not the leader (no leader known)" : "not the leader (leader is \(leader))"
        case .leadershipChanged: "leadership changed before the entry committed"
        case .stopped: "node stopped"
        case .storageFailed(let reason): "storage failed: \(reason)"
        case .invalidConfiguration(let reason): "invalid configuration: \(reason)"
        }
    }
}

/// Where a node's outbound messages go (the peer transport, or an in-process network in tests).
/// `send` must not block: a slow peer may lose messages, never stall the node.
public protocol MessageSender: Sendable {
    func send(_ message: Message)
}
