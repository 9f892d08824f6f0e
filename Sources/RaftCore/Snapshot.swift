import RaftMessages

/// What a snapshot replaces (§7, Figure 12): the log through `index`, whose last entry has `term`,
/// and the configuration in force at that point.
public struct SnapshotMetadata: Sendable, Hashable {
    /// Figure 13 `lastIncludedIndex`.
    public var index: UInt64
    /// Figure 13 `lastIncludedTerm`.
    public var term: UInt64
    /// The configuration as of `index` (§7: "the last configuration as of lastIncludedIndex").
    @Indirect public var configuration: Configuration

    public init(index: UInt64 = 0, term: UInt64 = 0, configuration: Configuration = Configuration()) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }
}

/// A snapshot of the service's state machine (§7). `data` is opaque to the core: the real node
/// hands it a zlib stream, the core only stores it and cuts it into InstallSnapshot chunks.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata = SnapshotMetadata(), data: [UInt8] = []) {
        self.metadata = metadata
        self.data = data
    }

    /// The empty snapshot (index 0) that a fresh storage reports.
    public var isEmpty: Bool { metadata.index == 0 }
}
