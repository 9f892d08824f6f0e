/// The state every server keeps on stable storage (Figure 2, "Persistent state on all servers"):
/// `currentTerm` and `votedFor`, plus the commit index so that a restarted server re-applies only
/// what is known to be committed. The log itself is persisted through `Ready.entries`.
public struct HardState: Sendable, Hashable {
    /// Latest term the server has seen (Figure 2 `currentTerm`).
    public var term: UInt64
    /// Candidate that received this server's vote in `term`, 0 for none (Figure 2 `votedFor`).
    public var vote: UInt64
    /// Highest log index known to be committed.
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    /// True for the state of a server that has never persisted anything.
    public var isEmpty: Bool { term == 0 && vote == 0 && commit == 0 }
}
