/// What a log entry carries (`raft.EntryType`).
public enum EntryType: Int32, Sendable, Hashable, CaseIterable {
    /// A command for the replicated state machine (§5.3).
    case normal = 0
    /// The empty entry a new leader appends so that entries of earlier terms
    /// can commit (§5.4.2, §8).
    case noop = 1
    /// A membership change (§6).
    case config = 2
}

/// One entry of the replicated log (`raft.LogEntry`, Figure 2 `log[]`).
public struct LogEntry: Sendable, Hashable {
    /// Position in the log; the first entry has index 1.
    public var index: UInt64
    /// Term of the leader that created the entry.
    public var term: UInt64
    public var type: EntryType
    /// The command, opaque to Raft.
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, type: EntryType = .normal, data: [UInt8] = []) {
        self.index = index
        self.term = term
        self.type = type
        self.data = data
    }
}
