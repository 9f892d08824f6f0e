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

/// A snapshot of the service's state machine (§7). The stream is opaque to the core: the real
/// node hands it a zlib stream, the core only cuts it into InstallSnapshot chunks.
///
/// A storage that keeps snapshots in memory holds the stream in `data`. One that keeps it on
/// disk leaves `data` empty and gives its length in `size`: the core then reads the chunks it
/// sends through `Storage.snapshotChunk`, and a snapshot received from a leader reaches the
/// driver as `SnapshotChunk`s (`Ready.snapshotChunks`) followed by a `Ready.snapshot` whose
/// stream is the one those chunks assembled — so that no side ever holds it whole.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]
    /// Bytes of the stream: `data.count`, or the length of the stream kept elsewhere.
    public var size: Int

    public init(metadata: SnapshotMetadata = SnapshotMetadata(), data: [UInt8] = [], size: Int? = nil) {
        self.metadata = metadata
        self.data = data
        self.size = size ?? data.count
    }

    /// The empty snapshot (index 0) that a fresh storage reports.
    public var isEmpty: Bool { metadata.index == 0 }

    /// The stream is not in `data` but in the storage (on the leader) or in the chunks handed to
    /// the driver (on a follower).
    public var isStreamed: Bool { data.count != size }
}

/// A piece of a snapshot received from the leader (Figure 13 steps 2–4), for the driver to write
/// into the snapshot being assembled before the chunk is acknowledged. Chunks come in order and
/// without gaps; offset 0 starts a new snapshot (any partial one is dropped).
public struct SnapshotChunk: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    public var offset: Int
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, offset: Int, data: [UInt8]) {
        self.metadata = metadata
        self.offset = offset
        self.data = data
    }
}
