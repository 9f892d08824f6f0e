/// Errors the core reports to its driver.
public enum RaftError: Error, Sendable, Hashable {
    /// `propose` on a node that is not the leader; `leaderID` is the leader it knows (0: none).
    case notLeader(leaderID: UInt64)
    /// The proposal was not appended: a leadership transfer is in progress (thesis §3.10). It
    /// never applies; retry once the new leader is known.
    case proposalDropped
    /// A configuration change was refused before anything was appended.
    case configChangeRefused(ConfigChangeRefusal)
    /// A leadership transfer cannot start; the text says why.
    case transferRefused(String)
    /// `Config` failed validation; the text says why.
    case invalidConfig(String)
    /// A message addressed to another node, or from a node that was removed from the cluster.
    case unknownPeer(UInt64)
    /// `Storage` failed in a way the core cannot recover from.
    case storage(StorageError)
}

/// Why the leader refused a configuration change (§6 and the rules production Raft
/// implementations add to it). Nothing was appended; the configuration is unchanged.
public enum ConfigChangeRefusal: Sendable, Hashable, CustomStringConvertible {
    /// One change at a time: the change at `index` is not applied yet. `automatic`: it is one
    /// the leader proposed itself (leaving a joint configuration, recording a member's address),
    /// which completes within a round trip.
    case pending(index: UInt64, automatic: Bool)
    /// The leader has not committed an entry of its term yet: it may not know every change
    /// committed before it (the single-server change bug, raft-dev 2015).
    case noCommitInTerm
    /// A leadership transfer is in progress.
    case transferInProgress
    /// The change is not valid for the current configuration.
    case invalid(String)
    /// Afterwards fewer voters than a quorum would be reachable (etcd's strict reconfig check).
    case quorumUnreachable(String)
    /// As `quorumUnreachable`, but the leader took office less than an election timeout ago and
    /// has not heard from these voters yet: they may well be up.
    case votersNotHeardYet([UInt64])
    /// The learner to promote has not caught up with the leader's log.
    case learnerBehind(id: UInt64, match: UInt64, lastIndex: UInt64)

    public var description: String {
        switch self {
        case .pending(let index, let automatic):
            "another configuration change (log index \(index)\(automatic ? ", proposed by the leader itself" : "")) is not applied yet"
        case .noCommitInTerm:
            "the leader has not committed an entry of its term yet; retry in a moment"
        case .transferInProgress:
            "a leadership transfer is in progress; retry with the new leader"
        case .invalid(let reason):
            reason
        case .quorumUnreachable(let reason):
            reason
        case .votersNotHeardYet(let voters):
            "the leader was just elected and has not heard from member(s) \(voters.map(String.init).joined(separator: ", ")) yet; retry in a moment"
        case .learnerBehind(let id, let match, let lastIndex):
            "learner \(id) has not caught up (it has entries through \(match), the leader through \(lastIndex)); promote it once it has"
        }
    }

    /// A refusal that resolves by itself within moments (the driver may retry it for the caller).
    public var isTransient: Bool {
        switch self {
        case .pending(_, let automatic): automatic
        case .noCommitInTerm, .transferInProgress, .votersNotHeardYet: true
        case .invalid, .quorumUnreachable, .learnerBehind: false
        }
    }
}
