/// RequestVote RPC arguments (`raft.RequestVoteRequest`, §5.2, Figure 2).
public struct RequestVoteRequest: Sendable, Hashable {
    /// Candidate's term; for a pre-vote the term it would campaign in.
    public var term: UInt64
    public var candidateID: UInt64
    /// §5.4.1 election restriction: the voter compares these with its own log.
    public var lastLogIndex: UInt64
    public var lastLogTerm: UInt64
    /// A pre-vote changes no state on the receiver (Raft thesis §9.6).
    public var preVote: Bool
    /// The leader handed leadership to the candidate (thesis §3.10): the leader lease does not
    /// stop voters from granting it.
    public var leadershipTransfer: Bool

    public init(
        term: UInt64, candidateID: UInt64, lastLogIndex: UInt64, lastLogTerm: UInt64, preVote: Bool = false,
        leadershipTransfer: Bool = false
    ) {
        self.term = term
        self.candidateID = candidateID
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.preVote = preVote
        self.leadershipTransfer = leadershipTransfer
    }
}

/// RequestVote RPC results (`raft.RequestVoteResponse`, Figure 2).
public struct RequestVoteResponse: Sendable, Hashable {
    public var term: UInt64
    public var voteGranted: Bool
    /// True when this answers a pre-vote.
    public var preVote: Bool

    public init(term: UInt64, voteGranted: Bool, preVote: Bool = false) {
        self.term = term
        self.voteGranted = voteGranted
        self.preVote = preVote
    }
}
