/// InstallSnapshot RPC arguments (`raft.InstallSnapshotRequest`, §7, Figure 13):
/// one chunk of the snapshot's byte stream (on the real wire, a zlib stream).
public struct InstallSnapshotRequest: Sendable, Hashable {
    public var term: UInt64
    public var leaderID: UInt64
    public var lastIncludedIndex: UInt64
    public var lastIncludedTerm: UInt64
    /// Byte offset of `data` within the snapshot stream.
    public var offset: UInt64
    public var data: [UInt8]
    /// True for the last chunk.
    public var done: Bool
    /// The configuration as of `lastIncludedIndex` (§7: the snapshot replaces the log and the
    /// configuration entries in it).
    @Indirect public var configuration: Configuration

    public init(
        term: UInt64, leaderID: UInt64, lastIncludedIndex: UInt64, lastIncludedTerm: UInt64,
        offset: UInt64 = 0, data: [UInt8] = [], done: Bool = true, configuration: Configuration = Configuration()
    ) {
        self.term = term
        self.leaderID = leaderID
        self.lastIncludedIndex = lastIncludedIndex
        self.lastIncludedTerm = lastIncludedTerm
        self.offset = offset
        self.data = data
        self.done = done
        self.configuration = configuration
    }
}

/// InstallSnapshot RPC results (`raft.InstallSnapshotResponse`).
public struct InstallSnapshotResponse: Sendable, Hashable {
    public var term: UInt64
    /// Which snapshot this answers.
    public var lastIncludedIndex: UInt64
    /// The stream offset the follower expects next.
    public var nextOffset: UInt64
    /// True once the follower has installed the whole snapshot.
    public var done: Bool

    public init(term: UInt64, lastIncludedIndex: UInt64 = 0, nextOffset: UInt64 = 0, done: Bool = false) {
        self.term = term
        self.lastIncludedIndex = lastIncludedIndex
        self.nextOffset = nextOffset
        self.done = done
    }
}
