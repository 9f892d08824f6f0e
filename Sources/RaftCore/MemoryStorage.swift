import RaftMessages

/// A `Storage` held in memory (etcd's `MemoryStorage`): what the simulated cluster uses as its
/// persister and what the real node uses until durable storage exists.
///
/// `entries[0]` is a dummy standing for the snapshot: its index and term are the snapshot's, so
/// `term(firstIndex - 1)` always answers.
public final class MemoryStorage: Storage {
    public private(set) var hardState = HardState()
    public private(set) var currentSnapshot = Snapshot()
    private var ents: [LogEntry] = [LogEntry(index: 0, term: 0)]
    /// A snapshot being received in chunks.
    private var staged: Snapshot?
    /// Hand the core snapshots without their stream (`Snapshot.isStreamed`), to be read a chunk
    /// at a time through `snapshotChunk`, as a disk storage does (simulations exercise that path
    /// with it). A chunk of a snapshot replaced meanwhile is refused (`.snapshotOutOfDate`).
    public var streamsSnapshots = false
    /// The configuration reported while there is no snapshot.
    private let initialConfiguration: Configuration
    /// A random number of this storage (kept by `copy()`): the member's incarnation.
    public let incarnation: UInt64

    /// `voters`: the configuration to report while no snapshot exists (tests; the real node
    /// keeps its first configuration in the log instead).
    public init(voters: [UInt64] = []) {
        self.initialConfiguration = Configuration(voterIDs: voters)
        self.incarnation = UInt64.random(in: 1...UInt64.max)
    }

    private init(initialConfiguration: Configuration, incarnation: UInt64) {
        self.initialConfiguration = initialConfiguration
        self.incarnation = incarnation
    }

    /// An independent copy (the tester's `Persister.Copy`).
    public func copy() -> MemoryStorage {
        let other = MemoryStorage(initialConfiguration: initialConfiguration, incarnation: incarnation)
        other.hardState = hardState
        other.currentSnapshot = currentSnapshot
        other.streamsSnapshots = streamsSnapshots
        other.ents = ents
        return other
    }

    // MARK: Storage

    public func initialState() throws -> (hardState: HardState, configuration: Configuration) {
        (hardState, currentSnapshot.isEmpty ? initialConfiguration : currentSnapshot.metadata.configuration)
    }

    public func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws -> [LogEntry] {
        let offset = ents[0].index
        if lo <= offset { throw StorageError.compacted }
        if hi > lastIndexValue + 1 { throw StorageError.unavailable }
        if lo >= hi { return [] }
        var result: [LogEntry] = []
        var size = 0
        for i in Int(lo - offset)..<Int(hi - offset) {
            size += ents[i].wireSize
            if !result.isEmpty && size > maxSize { break }
            result.append(ents[i])
        }
        return result
    }

    public func term(_ index: UInt64) throws -> UInt64 {
        let offset = ents[0].index
        if index < offset { throw StorageError.compacted }
        if index > lastIndexValue { throw StorageError.unavailable }
        return ents[Int(index - offset)].term
    }

    public func firstIndex() throws -> UInt64 { ents[0].index + 1 }

    public func lastIndex() throws -> UInt64 { lastIndexValue }

    public func snapshot() throws -> Snapshot {
        streamsSnapshots ? Snapshot(metadata: currentSnapshot.metadata, size: currentSnapshot.data.count) : currentSnapshot
    }

    public func snapshotChunk(index: UInt64, offset: Int, count: Int) throws -> [UInt8] {
        let data = currentSnapshot.data
        guard currentSnapshot.metadata.index == index, offset >= 0, count >= 0, offset + count <= data.count else {
            throw StorageError.snapshotOutOfDate
        }
        return Array(data[offset..<(offset + count)])
    }

    // MARK: Writing (the driver's side)

    private var lastIndexValue: UInt64 { ents[0].index + UInt64(ents.count - 1) }

    /// The entries after the snapshot, for size accounting and inspection.
    public var logEntries: ArraySlice<LogEntry> { ents[1...] }

    /// Persists `Ready.hardState`.
    public func setHardState(_ state: HardState) {
        hardState = state
    }

    /// Persists `Ready.entries`: entries from `entries[0].index` on replace what was there
    /// (§5.3: a conflicting suffix is deleted). Entries older than the snapshot are ignored.
    public func append(_ entries: [LogEntry]) throws {
        guard let first = entries.first else { return }
        let firstKept = ents[0].index + 1
        if entries.last!.index < firstKept { return }
        let toAdd = first.index < firstKept ? Array(entries[Int(firstKept - first.index)...]) : entries
        let start = toAdd[0].index
        if start > lastIndexValue + 1 { throw StorageError.unavailable }
        ents.removeSubrange(Int(start - ents[0].index)...)
        ents.append(contentsOf: toAdd)
    }

    /// The current snapshot (its stream is always in memory here).
    public func loadSnapshot() -> Snapshot { currentSnapshot }

    /// Writes `Ready.snapshotChunks` into the snapshot being assembled (volatile: `copy()`, the
    /// tester's crash, does not keep it).
    public func stageSnapshotChunks(_ chunks: [SnapshotChunk]) throws {
        for chunk in chunks {
            if chunk.offset == 0 {
                staged = Snapshot(metadata: chunk.metadata)
            }
            guard var snapshot = staged, snapshot.metadata == chunk.metadata, snapshot.data.count == chunk.offset else {
                throw StorageError.unavailable
            }
            staged = nil  // keep the buffer unique while appending
            snapshot.data.append(contentsOf: chunk.data)
            snapshot.size = snapshot.data.count
            staged = snapshot
        }
    }

    /// Persists `Ready.snapshot` received from a leader: the log is replaced by the snapshot
    /// (the one its chunks assembled, when it is streamed).
    public func applySnapshot(_ snapshot: Snapshot) throws {
        if snapshot.metadata.index <= currentSnapshot.metadata.index { throw StorageError.snapshotOutOfDate }
        var snapshot = snapshot
        if snapshot.isStreamed {
            guard let staged, staged.metadata == snapshot.metadata, staged.size == snapshot.size else {
                throw StorageError.unavailable
            }
            snapshot = staged
            self.staged = nil
        }
        currentSnapshot = snapshot
        ents = [LogEntry(index: snapshot.metadata.index, term: snapshot.metadata.term)]
        if hardState.commit < snapshot.metadata.index { hardState.commit = snapshot.metadata.index }
    }

    /// Records a snapshot of the state machine as of applied entry `index` (§7) with the
    /// configuration applied at that index (`RawNode.configuration`); the log is not trimmed
    /// until `compact`.
    @discardableResult
    public func createSnapshot(_ index: UInt64, data: [UInt8], configuration: Configuration) throws -> Snapshot {
        if index <= currentSnapshot.metadata.index { throw StorageError.snapshotOutOfDate }
        if index > lastIndexValue { throw StorageError.unavailable }
        let term = try term(index)
        currentSnapshot = Snapshot(
            metadata: SnapshotMetadata(index: index, term: term, configuration: configuration), data: data)
        return currentSnapshot
    }

    /// Discards the entries through `index` (which must be applied, and at most `lastIndex`).
    public func compact(_ index: UInt64) throws {
        let offset = ents[0].index
        if index <= offset { throw StorageError.compacted }
        if index > lastIndexValue { throw StorageError.unavailable }
        let i = Int(index - offset)
        let dummy = LogEntry(index: ents[i].index, term: ents[i].term)
        ents.removeSubrange(0...i)
        ents.insert(dummy, at: 0)
    }
}
