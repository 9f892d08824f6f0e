import RaftCore
import RaftMessages
import RaftStorage
import RaftZlib

/// The storage a node writes through while it processes `Ready` (the read side is the core's
/// `Storage`). `DiskStorage` is the real one; `MemoryStorage` serves tests and volatile nodes.
public protocol DurableStorage: Storage {
    /// Persists one `Ready`'s snapshot, entries and hard state; with `sync`, durably (one fsync
    /// for all of it: group commit) before returning.
    func persist(hardState: HardState?, entries: [LogEntry], snapshot: Snapshot?, sync: Bool) throws
    /// A log write in three steps (see `DiskStorage.prepareWrite`): prepared and completed on
    /// the node's loop, performed on the I/O pool; the loop keeps reading the storage, which
    /// answers as before the write until `completeWrite`.
    func prepareWrite(hardState: HardState?, entries: [LogEntry], sync: Bool) throws -> LogWrite
    func performWrite(_ write: LogWrite) throws
    func completeWrite(_ write: LogWrite) throws
    /// Writes `Ready.snapshotChunks` into the leader's snapshot being received (no sync); a
    /// streamed `Ready.snapshot` then persists what they assembled.
    func stageSnapshotChunks(_ chunks: [SnapshotChunk]) throws
    /// Starts a snapshot of the state machine as of applied entry `index` (§7), with the
    /// configuration applied at that index. The sink is fed raw state bytes on another thread
    /// while the storage keeps serving; nothing changes until `commitSnapshot`.
    func makeSnapshotSink(index: UInt64, configuration: Configuration) throws -> any SnapshotSink
    /// Makes a sealed sink's snapshot the storage's snapshot (and drops the older one). Throws
    /// `StorageError.snapshotOutOfDate` when a newer snapshot arrived meanwhile (the sink is then
    /// discarded).
    func commitSnapshot(_ sink: any SnapshotSink) throws
    /// Hands the raw bytes of the stored snapshot to `body` chunk by chunk (a restart restores
    /// the state machine from them) and returns its metadata and compressed size; nil, without
    /// calling `body`, when there is no snapshot.
    func readSnapshot(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> StoredSnapshot?
    /// Discards log entries through `index` (covered by the snapshot).
    func compact(_ index: UInt64) throws
    /// A random number created with the storage (for a data directory, when it was first
    /// created): the member's incarnation. A member whose storage was lost comes back with
    /// another one, which the cluster refuses (it no longer remembers its votes).
    var incarnation: UInt64 { get }
}

/// What `DurableStorage.readSnapshot` read.
public struct StoredSnapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    /// Bytes of the stored zlib stream.
    public var compressedBytes: Int
}

/// A snapshot being written: raw state bytes go in on a background thread and are
/// zlib-compressed on the way; `seal()` ends it there too, so that `commitSnapshot` on the
/// node's side has only a rename left to do. Used by one thread at a time.
public protocol SnapshotSink: AnyObject {
    var metadata: SnapshotMetadata { get }
    /// Adds raw state bytes.
    func write(_ chunk: UnsafeRawBufferPointer) throws
    /// Ends the stream and makes it durable under a temporary name.
    func seal() throws
    /// Raw and compressed bytes written so far.
    var rawBytes: Int { get }
    var compressedBytes: Int { get }
    /// Gives up; nothing the storage shows changes.
    func abort()
}

/// Inflates a snapshot's zlib stream held in memory in steps, handing the raw bytes to `body`.
func inflateSnapshotStream(_ stream: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let inflater = try ZlibInflater()
    var output: [UInt8] = []
    let step = 64 * 1024
    var offset = 0
    while offset < stream.count {
        let end = min(stream.count, offset + step)
        try inflater.decompress(stream[offset..<end], into: &output)
        if !output.isEmpty {
            try output.withUnsafeBytes { try body($0) }
            output.removeAll(keepingCapacity: true)
        }
        offset = end
    }
    try inflater.finish()
}

extension MemoryStorage: DurableStorage {
    public func persist(hardState: HardState?, entries: [LogEntry], snapshot: Snapshot?, sync: Bool) throws {
        if let snapshot { try applySnapshot(snapshot) }
        try append(entries)
        if let hardState { setHardState(hardState) }
    }

    public func prepareWrite(hardState: HardState?, entries: [LogEntry], sync: Bool) throws -> LogWrite {
        LogWrite(hardState: hardState, entries: entries[...], sync: sync)
    }

    public func performWrite(_ write: LogWrite) throws {}

    public func completeWrite(_ write: LogWrite) throws {
        try append(Array(write.entries))
        if let hardState = write.hardState { setHardState(hardState) }
    }

    public func makeSnapshotSink(index: UInt64, configuration: Configuration) throws -> any SnapshotSink {
        if index <= currentSnapshot.metadata.index { throw StorageError.snapshotOutOfDate }
        return try MemorySnapshotSink(
            metadata: SnapshotMetadata(index: index, term: try term(index), configuration: configuration))
    }

    public func commitSnapshot(_ sink: any SnapshotSink) throws {
        guard let sink = sink as? MemorySnapshotSink, let stream = sink.stream else {
            throw StorageError.unavailable
        }
        try createSnapshot(sink.metadata.index, data: stream, configuration: sink.metadata.configuration)
    }

    public func readSnapshot(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> StoredSnapshot? {
        let snapshot = currentSnapshot
        guard !snapshot.isEmpty else { return nil }
        try inflateSnapshotStream(snapshot.data, body)
        return StoredSnapshot(metadata: snapshot.metadata, compressedBytes: snapshot.data.count)
    }
}

/// `MemoryStorage`'s sink: the compressed stream in memory.
final class MemorySnapshotSink: SnapshotSink {
    let metadata: SnapshotMetadata
    private let deflater: ZlibDeflater
    private var compressed: [UInt8] = []
    private(set) var stream: [UInt8]?
    private(set) var rawBytes = 0
    var compressedBytes: Int { compressed.count }

    init(metadata: SnapshotMetadata) throws {
        self.metadata = metadata
        deflater = try ZlibDeflater(level: 1)
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        rawBytes += chunk.count
        try deflater.compress(chunk, into: &compressed)
    }

    func seal() throws {
        try deflater.finish(into: &compressed)
        stream = compressed
    }

    func abort() { stream = nil }
}

extension SnapshotWriter: SnapshotSink {}

extension DiskStorage: DurableStorage {
    public func makeSnapshotSink(index: UInt64, configuration: Configuration) throws -> any SnapshotSink {
        try beginSnapshot(index: index, configuration: configuration, precompressed: false)
    }

    public func commitSnapshot(_ sink: any SnapshotSink) throws {
        guard let writer = sink as? SnapshotWriter else { throw StorageError.unavailable }
        _ = try commitSnapshot(writer) as SnapshotMetadata
    }

    public func readSnapshot(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> StoredSnapshot? {
        guard let reader = try openSnapshot() else { return nil }
        var chunk: [UInt8] = []
        while try reader.nextRawChunk(into: &chunk) {
            try chunk.withUnsafeBytes { try body($0) }
        }
        return StoredSnapshot(metadata: reader.info.metadata, compressedBytes: Int(reader.info.compressedSize))
    }
}
