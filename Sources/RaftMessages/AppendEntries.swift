/// AppendEntries RPC arguments (`raft.AppendEntriesRequest`, §5.3; a heartbeat
/// when `entries` is empty, §5.2).
public struct AppendEntriesRequest: Sendable, Hashable {
    public var term: UInt64
    public var leaderID: UInt64
    /// §5.3 consistency check: the entry just before `entries`.
    public var prevLogIndex: UInt64
    public var prevLogTerm: UInt64
    public var entries: [LogEntry]
    public var leaderCommit: UInt64
    /// The leader's latest ReadIndex round (thesis §6.4), echoed by the follower.
    public var readRound: UInt64

    public init(
        term: UInt64, leaderID: UInt64, prevLogIndex: UInt64, prevLogTerm: UInt64,
        entries: [LogEntry] = [], leaderCommit: UInt64, readRound: UInt64 = 0
    ) {
        self.term = term
        self.leaderID = leaderID
        self.prevLogIndex = prevLogIndex
        self.prevLogTerm = prevLogTerm
        self.entries = entries
        self.leaderCommit = leaderCommit
        self.readRound = readRound
    }
}

/// AppendEntries RPC results (`raft.AppendEntriesResponse`, Figure 2), with the
/// conflict hints of §5.3's fast backtracking.
public struct AppendEntriesResponse: Sendable, Hashable {
    public var term: UInt64
    public var success: Bool
    /// On success, the last index now known to match the leader's log.
    public var matchIndex: UInt64
    /// On rejection, the index the leader should probe next.
    public var conflictIndex: UInt64
    /// On rejection, the follower's term at `conflictIndex` (0: log too short).
    public var conflictTerm: UInt64
    /// Echo of the request's `prevLogIndex`, to spot stale rejections.
    public var prevLogIndex: UInt64
    /// Echo of the request's `readRound`: confirms the leader's leadership as of that round.
    public var readRound: UInt64
    /// The answering member's own record, only when the configuration's record of it is out
    /// of date (its client address or incarnation): the leader proposes the update.
    @Indirect public var member: Member?

    public init(
        term: UInt64, success: Bool, matchIndex: UInt64 = 0, conflictIndex: UInt64 = 0,
        conflictTerm: UInt64 = 0, prevLogIndex: UInt64 = 0, readRound: UInt64 = 0, member: Member? = nil
    ) {
        self.term = term
        self.success = success
        self.matchIndex = matchIndex
        self.conflictIndex = conflictIndex
        self.conflictTerm = conflictTerm
        self.prevLogIndex = prevLogIndex
        self.readRound = readRound
        self.member = member
    }
}
