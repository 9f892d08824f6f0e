import RaftMessages

/// Why a `Storage` call could not answer.
public enum StorageError: Error, Sendable, Hashable {
    /// The requested index is older than the storage's first index: it was compacted into a
    /// snapshot (etcd `ErrCompacted`).
    case compacted
    /// The requested index is beyond the storage's last index (etcd `ErrUnavailable`).
    case unavailable
    /// A snapshot older than the one already held was offered (etcd `ErrSnapOutOfDate`).
    case snapshotOutOfDate
    /// An I/O failure in a durable implementation; the core treats it as fatal.
    case io(String)
}

/// The read-only view of stable storage the core uses (etcd's `Storage` contract).
///
/// The core never writes through this protocol: the driver persists what `Ready` hands it
/// (`hardState`, `entries`, `snapshot`) *before* it sends `Ready.messagesAfterPersist`, then calls
/// `RawNode.advance`. From then on the storage must answer for those entries.
///
/// Indices: the storage holds a snapshot through `firstIndex() - 1` (possibly the empty snapshot
/// at 0) followed by the entries `firstIndex() ... lastIndex()`. `term(firstIndex() - 1)` must
/// answer with the snapshot's term; older indices throw `.compacted`, newer ones `.unavailable`.
/// Any other error thrown is treated by the core as unrecoverable.
public protocol Storage: AnyObject {
    /// The persisted `HardState` and the configuration as of the snapshot (empty when the
    /// storage holds none: the core then starts from `Config.voters`, and configuration entries
    /// in the log re-apply as they are applied again).
    func initialState() throws -> (hardState: HardState, configuration: Configuration)
    /// Entries in `[lo, hi)`. Returns at least one entry when `lo < hi` even if it alone exceeds
    /// `maxSize`; otherwise stops before the total `wireSize` would exceed `maxSize`.
    func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws -> [LogEntry]
    /// The term of entry `index`, for `firstIndex() - 1 ... lastIndex()`.
    func term(_ index: UInt64) throws -> UInt64
    /// Index of the first entry that is still available (snapshot index + 1).
    func firstIndex() throws -> UInt64
    /// Index of the last entry (the snapshot index when the log is empty).
    func lastIndex() throws -> UInt64
    /// The most recent snapshot, for sending to a follower that is too far behind. Its stream
    /// may stay in the storage (`Snapshot.isStreamed`): then the core reads what it sends with
    /// `snapshotChunk`.
    func snapshot() throws -> Snapshot
    /// Bytes `offset ..< offset + count` of the stream of the snapshot through `index`; throws
    /// `StorageError.snapshotOutOfDate` when that snapshot is gone (a newer one replaced it: the
    /// core then starts over with the newer one).
    func snapshotChunk(index: UInt64, offset: Int, count: Int) throws -> [UInt8]
}

extension Storage {
    /// For storages whose `snapshot()` holds the stream in `data`.
    public func snapshotChunk(index: UInt64, offset: Int, count: Int) throws -> [UInt8] {
        let snapshot = try snapshot()
        guard snapshot.metadata.index == index, !snapshot.isStreamed, offset >= 0, offset + count <= snapshot.data.count else {
            throw StorageError.snapshotOutOfDate
        }
        return Array(snapshot.data[offset..<(offset + count)])
    }
}
