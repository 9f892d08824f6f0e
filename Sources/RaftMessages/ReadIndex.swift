/// A follower's or learner's request for a read index (`raft.ReadIndexRequest`, Raft thesis
/// §6.4 forwarded to the leader, as etcd's `MsgReadIndex`): one request per batch of the
/// sender's reads, matched to its answer by `context`.
public struct ReadIndexRequest: Sendable, Hashable {
    public var term: UInt64
    public var context: UInt64

    public init(term: UInt64, context: UInt64) {
        self.term = term
        self.context = context
    }
}

/// Answer to a `ReadIndexRequest` (`raft.ReadIndexResponse`): the leader's commit index when
/// the request arrived, once its leadership is confirmed (`success`), or a refusal.
public struct ReadIndexResponse: Sendable, Hashable {
    public var term: UInt64
    public var context: UInt64
    public var success: Bool
    public var readIndex: UInt64

    public init(term: UInt64, context: UInt64, success: Bool, readIndex: UInt64 = 0) {
        self.term = term
        self.context = context
        self.success = success
        self.readIndex = readIndex
    }
}
