import RaftCore
import RaftMessages
import RaftStorage

/// The storage a node writes through while it processes `Ready` (the read side is the core's
/// `Storage`). `DiskStorage` is the real one; `MemoryStorage` serves tests and volatile nodes.
public protocol DurableStorage: Storage {
    /// Persists one `Ready`'s snapshot, entries and hard state; with `sync`, durably (one fsync
    /// for all of it: group commit) before returning.
    func persist(hardState: HardState?, entries: [LogEntry], snapshot: Snapshot?, sync: Bool) throws
    /// Records a snapshot of the state machine as of applied entry `index`, with the
    /// configuration applied at that index; `data` is the state machine's zlib stream. The log
    /// is not trimmed until `compact`.
    @discardableResult
    func createSnapshot(_ index: UInt64, data: [UInt8], configuration: Configuration) throws -> Snapshot
    /// Discards log entries through `index` (covered by the snapshot).
    func compact(_ index: UInt64) throws
    /// A random number created with the storage (for a data directory, when it was first
    /// created): the member's incarnation. A member whose storage was lost comes back with
    /// another one, which the cluster refuses (it no longer remembers its votes).
    var incarnation: UInt64 { get }
}

extension MemoryStorage: DurableStorage {
    public func persist(hardState: HardState?, entries: [LogEntry], snapshot: Snapshot?, sync: Bool) throws {
        if let snapshot { try applySnapshot(snapshot) }
        try append(entries)
        if let hardState { setHardState(hardState) }
    }
}

extension DiskStorage: DurableStorage {}
