/// Sent by a leader handing leadership over (`raft.TimeoutNowRequest`, Raft thesis §3.10): the
/// receiver campaigns at once, without a pre-vote.
public struct TimeoutNowRequest: Sendable, Hashable {
    public var term: UInt64
    public var leaderID: UInt64

    public init(term: UInt64, leaderID: UInt64) {
        self.term = term
        self.leaderID = leaderID
    }
}

/// Answer to a `TimeoutNowRequest` (`raft.TimeoutNowResponse`).
public struct TimeoutNowResponse: Sendable, Hashable {
    public var term: UInt64

    public init(term: UInt64) {
        self.term = term
    }
}
