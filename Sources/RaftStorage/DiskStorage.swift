import Glibc
import RaftCore
import RaftMessages

/// How a `DiskStorage` is set up.
public struct DiskStorageOptions: Sendable {
    /// A segment is closed and a new one started once it reaches this size (a single batch may
    /// go past it).
    public var segmentSize: Int
    /// The voters reported by `initialState()` while no snapshot exists (as `MemoryStorage(voters:)`;
    /// tests). The real node keeps its first configuration in the log (`RawNode.bootstrap`).
    public var voters: [UInt64]
    /// zlib level for snapshots streamed through ``DiskStorage/beginSnapshot(index:configuration:precompressed:)``.
    public var snapshotCompressionLevel: Int
    /// Skips every fsync (etcd's `--unsafe-no-fsync`): a crash of the machine may then lose or
    /// tear anything. For tests that simulate crashes by editing files, never for a real node.
    public var unsafeNoFsync: Bool
    /// The current segment is zero-filled this far ahead of its last record, so that an append
    /// overwrites blocks the file already has: its fdatasync then flushes data only, without
    /// a journal commit for the new file size (measured here: 173 vs 246 µs per fdatasync with
    /// three writers on one ext4 disk). 0 disables it. Recovery treats a zero tail as the end.
    public var preallocationBytes: Int

    public init(
        segmentSize: Int = 64 << 20, voters: [UInt64] = [], snapshotCompressionLevel: Int = 1, unsafeNoFsync: Bool = false,
        preallocationBytes: Int = 1 << 20
    ) {
        self.segmentSize = segmentSize
        self.voters = voters
        self.snapshotCompressionLevel = snapshotCompressionLevel
        self.unsafeNoFsync = unsafeNoFsync
        self.preallocationBytes = preallocationBytes
    }
}

/// The core's `Storage` on disk, with `MemoryStorage`'s write side made durable (§5, §7;
/// Figure 2 "persistent state ... updated on stable storage before responding to RPCs").
///
/// Layout under the data directory:
/// - `LOCK`: `flock`ed while open; holds the owner's pid.
/// - `INCARNATION`: this directory's random incarnation (see ``incarnation``).
/// - `wal/<sequence>-<first index>.wal`: the write-ahead log, append-only segments of framed,
///   crc-checked records (``WALRecordType``), rotated at ``DiskStorageOptions/segmentSize``.
/// - `snap/<term>-<index>.snap`: the newest snapshot (header + zlib stream), see `SnapshotFormat`.
///
/// The whole log is also held in memory (as etcd's WAL + `MemoryStorage`), so reads never touch
/// the disk except `snapshotChunk`, which reads a piece of the stored snapshot stream (the core
/// sends snapshots a chunk at a time: `snapshot()` does not load the stream).
///
/// Writes: ``persist(hardState:entries:snapshot:sync:)`` writes one `Ready`'s snapshot, entries
/// and hard state with a single fdatasync (group commit). Nothing is visible through `Storage`
/// before it is written, and nothing is durable before a call with `sync: true` returns. After
/// any failed write or fsync the storage refuses every further write with
/// ``DiskStorageError/failed(cause:)``: it cannot know what reached the disk, so the node must
/// stop acknowledging and restart (recovery sorts it out).
///
/// Logical errors match `MemoryStorage` (`StorageError.compacted`, `.unavailable`,
/// `.snapshotOutOfDate`); I/O and corruption throw ``DiskStorageError``.
///
/// Not thread-safe: one driver owns it, like the `RawNode` it serves.
public final class DiskStorage: Storage {
    public let directory: String
    public let options: DiskStorageOptions
    /// What recovery found when this storage was opened.
    public let recoveryReport: RecoveryReport
    /// A random number created with the data directory: the member's incarnation, recorded in
    /// the replicated configuration. A member whose directory was lost comes back with another
    /// one, and the cluster refuses it.
    public let incarnation: UInt64

    private var lock: DataDirectoryLock?
    private let wal: WriteAheadLog
    private let snapDirectory: String
    private var state: LogState
    private var snapshotInfo: SnapshotFileInfo?
    /// Snapshot files open for `snapshotChunk`, most recently used last. An open file stays
    /// readable after a newer snapshot replaced (deleted) it, so a transfer under way finishes.
    private var chunkReaders: [SnapshotReader] = []
    /// A leader's snapshot being received in chunks (``stageSnapshotChunks(_:)``).
    private var staged: SnapshotWriter?
    private var failure: String?
    private var isClosed = false
    private var buffer: [UInt8] = []

    /// Opens (creating if needed) the data directory `directory` and recovers its state.
    /// - Throws: ``DiskStorageError/locked(directory:holderPID:)`` if it is in use, the corruption
    ///   errors of recovery, or an I/O error.
    public init(directory: String, options: DiskStorageOptions = DiskStorageOptions()) throws(DiskStorageError) {
        guard options.segmentSize > 0 else { throw .invalidArgument("segmentSize must be positive") }
        var directory = directory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        self.directory = directory
        self.options = options
        if try FileSystem.makeDirectory(directory) {
            let parent = directory.contains("/") ? String(directory[..<directory.lastIndex(of: "/")!]) : "."
            if !options.unsafeNoFsync { try FileSystem.syncDirectory(parent.isEmpty ? "/" : parent) }
        }
        let lock = try DataDirectoryLock(directory: directory)
        let (incarnation, incarnationCreated) = try IncarnationFile.load(directory: directory, durable: !options.unsafeNoFsync)
        self.incarnation = incarnation
        let walDirectory = directory + "/wal"
        snapDirectory = directory + "/snap"
        var created = try FileSystem.makeDirectory(walDirectory)
        created = try FileSystem.makeDirectory(snapDirectory) || created
        if created && !options.unsafeNoFsync { try FileSystem.syncDirectory(directory) }

        var report = RecoveryReport()
        let snapshotInfo = try Self.loadNewestSnapshot(snapDirectory, report: &report)
        wal = WriteAheadLog(
            directory: walDirectory, segmentSize: options.segmentSize, durable: !options.unsafeNoFsync,
            preallocationBytes: options.preallocationBytes)
        var state = try wal.replay(report: &report)
        if incarnationCreated && (!wal.segments.isEmpty || snapshotInfo != nil) {
            report.warnings.append("created incarnation \(incarnation) for a data directory written before incarnations existed")
        }

        // Reconcile the snapshot with the log.
        var finishInstall = false
        if let info = snapshotInfo {
            let meta = info.metadata
            report.snapshot = meta
            if wal.segments.isEmpty {
                throw .missingSegment(
                    file: walDirectory, reason: "no log segments, but snapshot \(info.path) exists: the hard state is gone")
            }
            if meta.index < state.dummyIndex {
                throw .missingSnapshot(directory: directory, compactedThrough: state.dummyIndex, snapshotIndex: meta.index)
            }
            if meta.index == state.dummyIndex && meta.term != state.dummyTerm {
                throw .corruptSnapshot(
                    file: info.path, offset: 24,
                    reason: "snapshot term \(meta.term) at index \(meta.index) disagrees with the log's term \(state.dummyTerm)")
            }
            if info.installed && meta.index > state.dummyIndex {
                // A leader's snapshot was stored but the crash came before the log was reset to
                // it: finish installing it. (A snapshot of our own state leaves the log alone.)
                state.reset(index: meta.index, term: meta.term)
                state.hardState.commit = max(state.hardState.commit, meta.index)
                finishInstall = true
                report.warnings.append("finished installing snapshot \(info.path) interrupted by a crash")
            }
        } else if state.dummyIndex > 0 {
            throw .missingSnapshot(directory: directory, compactedThrough: state.dummyIndex, snapshotIndex: 0)
        }
        self.state = state
        self.snapshotInfo = snapshotInfo
        self.lock = lock
        if wal.segments.isEmpty || finishInstall {
            try wal.write([], rotateWith: wal.nextHeader(state: state, reset: finishInstall))
            try wal.sync()
            if finishInstall { try wal.removeObsoleteSegments(compactedThrough: state.dummyIndex) }
        }
        self.recoveryReport = report
    }

    deinit {
        // Unsynced writes (sync: false) are left to the page cache, as after a crash.
        wal.close()
    }

    /// Picks the newest `.snap` file, checks it whole, and removes older ones and stale `.tmp` files.
    private static func loadNewestSnapshot(
        _ snapDirectory: String, report: inout RecoveryReport
    ) throws(DiskStorageError) -> SnapshotFileInfo? {
        var candidates: [(name: String, term: UInt64, index: UInt64)] = []
        for name in try FileSystem.list(snapDirectory) {
            if name.hasSuffix(".tmp") {
                try FileSystem.remove(snapDirectory + "/" + name)
                report.warnings.append("removed unfinished snapshot \(snapDirectory)/\(name)")
            } else if let (term, index) = SnapshotFormat.parseName(name) {
                candidates.append((name, term, index))
            }
        }
        guard let newest = candidates.max(by: { ($0.index, $0.term) < ($1.index, $1.term) }) else { return nil }
        let path = snapDirectory + "/" + newest.name
        let reader = try SnapshotReader(path: path)
        try reader.verify()
        let info = reader.info
        guard info.metadata.index == newest.index, info.metadata.term == newest.term else {
            throw .corruptSnapshot(
                file: path, offset: 16,
                reason: "header says index \(info.metadata.index) term \(info.metadata.term), file name says index \(newest.index) term \(newest.term)")
        }
        for old in candidates where old.name != newest.name {
            try FileSystem.remove(snapDirectory + "/" + old.name)
        }
        return info
    }

    // MARK: Storage

    public func initialState() throws -> (hardState: HardState, configuration: Configuration) {
        (state.hardState, snapshotInfo?.metadata.configuration ?? Configuration(voterIDs: options.voters))
    }

    public func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws -> [LogEntry] {
        if lo <= state.dummyIndex { throw StorageError.compacted }
        if hi > state.lastIndex + 1 { throw StorageError.unavailable }
        if lo >= hi { return [] }
        var result: [LogEntry] = []
        var size = 0
        for index in lo..<hi {
            let entry = state.entry(at: index)
            size += entry.wireSize
            if !result.isEmpty && size > maxSize { break }
            result.append(entry)
        }
        return result
    }

    public func term(_ index: UInt64) throws -> UInt64 {
        if index < state.dummyIndex { throw StorageError.compacted }
        guard let term = state.term(at: index) else { throw StorageError.unavailable }
        return term
    }

    public func firstIndex() throws -> UInt64 { state.dummyIndex + 1 }

    public func lastIndex() throws -> UInt64 { state.lastIndex }

    /// The newest snapshot, its stream left on disk (`isStreamed`): the core reads the chunks it
    /// sends with ``snapshotChunk(index:offset:count:)``.
    public func snapshot() throws -> Snapshot {
        guard let info = snapshotInfo else { return Snapshot() }
        return Snapshot(metadata: info.metadata, size: Int(info.compressedSize))
    }

    /// Most snapshot files kept open for transfers at once.
    static let maxChunkReaders = 3

    /// Bytes of the stored stream of the snapshot through `index` (a chunk to send). Throws
    /// `StorageError.snapshotOutOfDate` when that snapshot is gone.
    public func snapshotChunk(index: UInt64, offset: Int, count: Int) throws -> [UInt8] {
        let reader: SnapshotReader
        if let i = chunkReaders.firstIndex(where: { $0.info.metadata.index == index }) {
            reader = chunkReaders.remove(at: i)
        } else {
            guard let info = snapshotInfo, info.metadata.index == index else { throw StorageError.snapshotOutOfDate }
            reader = try SnapshotReader(path: info.path)
            if chunkReaders.count >= Self.maxChunkReaders { chunkReaders.removeFirst() }
        }
        chunkReaders.append(reader)
        return try reader.streamBytes(at: offset, count: count)
    }

    /// The newest snapshot with its stream read into memory and checked (tests and tools; the
    /// node never holds a snapshot whole).
    public func loadSnapshot() throws -> Snapshot {
        guard let info = snapshotInfo else { return Snapshot() }
        let (_, stream) = try SnapshotReader.readStream(path: info.path)
        return Snapshot(metadata: info.metadata, data: stream)
    }

    // MARK: Inspection

    /// The persisted hard state.
    public var hardState: HardState { state.hardState }

    /// The entries after the compaction point (as `MemoryStorage.logEntries`).
    public var logEntries: ArraySlice<LogEntry> { state.ents[1...] }

    /// The newest snapshot's header (without loading its data), nil when there is none.
    public var snapshotFile: SnapshotFileInfo? { snapshotInfo }

    /// A reader over the newest snapshot (to restore the state machine chunk by chunk, or to send
    /// it), nil when there is none.
    public func openSnapshot() throws(DiskStorageError) -> SnapshotReader? {
        guard let info = snapshotInfo else { return nil }
        return try SnapshotReader(path: info.path)
    }

    /// Tests only: makes the next log `write` or `fdatasync` fail with `errno`.
    func injectFault(_ operation: String, errno: Int32) {
        wal.injectedFault = (operation, errno)
    }

    /// Called with the duration of every log fdatasync, for the `raft_wal_fsync_duration_seconds`
    /// histogram. Runs on the caller's thread, inside the write.
    public var syncObserver: ((Duration) -> Void)? {
        get { wal.syncObserver }
        set { wal.syncObserver = newValue }
    }

    /// Log fdatasyncs done since open (one per synced batch).
    public var syncCount: Int { wal.syncs }

    /// Log bytes written since open.
    public var bytesWritten: Int { wal.bytesWritten }

    /// Number of log segment files.
    public var segmentCount: Int { wal.segments.count }

    // MARK: Writing (the driver's side)

    /// Persists one `Ready`: `snapshot` first (a leader's; its file is made durable and the log
    /// reset to it), then `entries` (replacing stored entries from `entries[0].index` on, §5.3),
    /// then `hardState` — all in the log with one fdatasync when `sync` is true (group commit).
    /// A snapshot always syncs.
    public func persist(hardState: HardState?, entries: [LogEntry], snapshot: Snapshot?, sync: Bool) throws {
        guard let snapshot else {
            // Entries and hard state alone: the three steps of a log write, here at once.
            let write = try prepareWrite(hardState: hardState, entries: entries, sync: sync)
            try performWrite(write)
            completeWrite(write)
            return
        }
        try checkWritable()
        // Validate everything before writing anything.
        if snapshot.metadata.index <= (snapshotInfo?.metadata.index ?? 0) { throw StorageError.snapshotOutOfDate }
        let newer = try Self.checkedNewer(entries, after: snapshot.metadata.index, last: snapshot.metadata.index)

        let writer: SnapshotWriter
        if snapshot.isStreamed {
            // The stream arrived in chunks: it is in the staged file already.
            guard let staged, staged.metadata == snapshot.metadata, staged.compressedBytes == snapshot.size else {
                throw DiskStorageError.invalidArgument(
                    "snapshot \(snapshot.metadata.index) of \(snapshot.size) bytes was not received in chunks")
            }
            writer = staged
            self.staged = nil
        } else {
            writer = try SnapshotWriter(
                directory: snapDirectory, metadata: snapshot.metadata, precompressed: true, installed: true,
                durable: !options.unsafeNoFsync)
            try writer.write(snapshot.data)
        }
        let newInfo = try guarded { () throws(DiskStorageError) in try writer.finish() }
        var after = state
        after.reset(index: snapshot.metadata.index, term: snapshot.metadata.term)
        after.hardState.commit = max(after.hardState.commit, snapshot.metadata.index)
        let header = wal.nextHeader(state: after, reset: true)
        buffer.removeAll(keepingCapacity: true)
        WALRecord.appendEntries(newer, to: &buffer)
        if let hardState { WALRecord.appendHardState(hardState, to: &buffer) }
        try guarded { () throws(DiskStorageError) in
            try wal.write(buffer, rotateWith: header)
            try wal.sync()
        }
        if buffer.count > 1 << 24 { buffer = [] }

        // Durable: now visible.
        state.reset(index: snapshot.metadata.index, term: snapshot.metadata.term)
        state.hardState.commit = max(state.hardState.commit, snapshot.metadata.index)
        let old = snapshotInfo
        snapshotInfo = newInfo
        try guarded { () throws(DiskStorageError) in
            if let old, old.path != newInfo.path { try FileSystem.remove(old.path) }
            try wal.removeObsoleteSegments(compactedThrough: state.dummyIndex)
        }
        state.append(newer)
        if let hardState { state.hardState = hardState }
    }

    /// Starts a write of one `Ready`'s entries and hard state (no snapshot) in three steps, so
    /// that the thread owning the storage keeps reading it while the disk works: this one
    /// validates and encodes (owner's thread); ``performWrite(_:)`` writes and syncs (any
    /// thread, while the owner starts no other write); ``completeWrite(_:)`` makes the result
    /// visible (owner's thread). Until then reads answer as before the write.
    public func prepareWrite(hardState: HardState?, entries: [LogEntry], sync: Bool) throws -> LogWrite {
        try checkWritable()
        let newer = try Self.checkedNewer(entries, after: state.dummyIndex, last: state.lastIndex)
        if newer.isEmpty && hardState == nil { return LogWrite(hardState: nil, entries: [][...], sync: sync) }
        var records = buffer
        buffer = []
        records.removeAll(keepingCapacity: true)
        WALRecord.appendEntries(newer, to: &records)
        if let hardState { WALRecord.appendHardState(hardState, to: &records) }
        var write = LogWrite(hardState: hardState, entries: newer, sync: sync)
        write.records = records
        write.header = wal.needsRotation ? wal.nextHeader(state: state, reset: false) : nil
        return write
    }

    /// The disk part of a prepared write: the log records, then the fdatasync when it syncs.
    public func performWrite(_ write: LogWrite) throws {
        if write.records.isEmpty {
            if write.sync { try syncLog() }
            return
        }
        try guarded { () throws(DiskStorageError) in
            try wal.write(write.records, rotateWith: write.header)
            if write.sync { try wal.sync() }
        }
    }

    /// Makes a performed write visible to reads.
    public func completeWrite(_ write: LogWrite) {
        state.append(write.entries)
        if let hardState = write.hardState { state.hardState = hardState }
        if write.records.count <= 1 << 24 { buffer = write.records }
    }

    /// Persists a `Ready` in its documented order, syncing when `ready.mustSync`.
    public func persist(_ ready: Ready) throws {
        try stageSnapshotChunks(ready.snapshotChunks)
        try persist(hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot, sync: ready.mustSync)
    }

    /// `MemoryStorage.setHardState`, durable on return.
    public func setHardState(_ hardState: HardState) throws {
        try persist(hardState: hardState, entries: [], snapshot: nil, sync: true)
    }

    /// `MemoryStorage.append`, durable on return.
    public func append(_ entries: [LogEntry]) throws {
        try persist(hardState: nil, entries: entries, snapshot: nil, sync: true)
    }

    /// `MemoryStorage.applySnapshot` (a leader's snapshot, `data` being its stream), durable on return.
    public func applySnapshot(_ snapshot: Snapshot) throws {
        try persist(hardState: nil, entries: [], snapshot: snapshot, sync: true)
    }

    /// Makes everything written with `sync: false` durable.
    public func sync() throws {
        try checkWritable()
        try syncLog()
    }

    /// `MemoryStorage.createSnapshot`: stores `data` (the state machine's zlib stream, or any
    /// opaque bytes) as the snapshot through applied entry `index`, durably. The log is not
    /// trimmed until `compact`.
    @discardableResult
    public func createSnapshot(_ index: UInt64, data: [UInt8], configuration: Configuration) throws -> Snapshot {
        let writer = try beginSnapshot(index: index, configuration: configuration, precompressed: true)
        try writer.write(data)
        let metadata = try commitSnapshot(writer)
        return Snapshot(metadata: metadata, data: data)
    }

    /// Writes `Ready.snapshotChunks` into the leader's snapshot being received, a temporary file
    /// in the snapshot directory (not synced: a crash loses it, and the leader starts over).
    /// Offset 0 starts a new one; the previous partial file is removed.
    public func stageSnapshotChunks(_ chunks: [SnapshotChunk]) throws {
        try checkWritable()
        for chunk in chunks {
            if chunk.offset == 0 {
                staged?.abort()
                staged = nil
                staged = try SnapshotWriter(
                    directory: snapDirectory, metadata: chunk.metadata, precompressed: true, installed: true,
                    durable: !options.unsafeNoFsync)
            }
            guard let staged, staged.metadata == chunk.metadata, staged.compressedBytes == chunk.offset else {
                throw DiskStorageError.invalidArgument(
                    "snapshot chunk at \(chunk.offset) of snapshot \(chunk.metadata.index) does not follow what was received")
            }
            try staged.write(chunk.data)
        }
    }

    /// Starts a snapshot through applied entry `index` (§7), with the configuration applied at
    /// that index, to be streamed in: by default raw state-machine bytes, compressed as they
    /// come; with `precompressed`, an existing stream. Write the chunks, then call
    /// ``commitSnapshot(_:)``.
    public func beginSnapshot(index: UInt64, configuration: Configuration, precompressed: Bool = false) throws -> SnapshotWriter {
        try checkWritable()
        if index <= (snapshotInfo?.metadata.index ?? 0) { throw StorageError.snapshotOutOfDate }
        if index > state.lastIndex { throw StorageError.unavailable }
        let term = try term(index)
        return try SnapshotWriter(
            directory: snapDirectory, metadata: SnapshotMetadata(index: index, term: term, configuration: configuration),
            compressionLevel: options.snapshotCompressionLevel, precompressed: precompressed, durable: !options.unsafeNoFsync)
    }

    /// Makes the snapshot `writer` wrote durable and the newest; removes the older one.
    @discardableResult
    public func commitSnapshot(_ writer: SnapshotWriter) throws -> SnapshotMetadata {
        try checkWritable()
        let metadata = writer.metadata
        guard metadata.index > (snapshotInfo?.metadata.index ?? 0) else {
            writer.abort()
            throw StorageError.snapshotOutOfDate
        }
        guard state.term(at: metadata.index) == metadata.term else {
            writer.abort()
            throw DiskStorageError.invalidArgument("snapshot at \(metadata.index) term \(metadata.term) no longer matches the log")
        }
        let info = try guarded { () throws(DiskStorageError) in try writer.finish() }
        let old = snapshotInfo
        snapshotInfo = info
        if let old, old.path != info.path { try guarded { () throws(DiskStorageError) in try FileSystem.remove(old.path) } }
        return metadata
    }

    /// `MemoryStorage.compact`: discards the entries through `index`, which the snapshot must
    /// cover; durable on return. Segments holding only discarded entries are deleted.
    public func compact(_ index: UInt64) throws {
        try checkWritable()
        if index <= state.dummyIndex { throw StorageError.compacted }
        if index > state.lastIndex { throw StorageError.unavailable }
        let snapshotIndex = snapshotInfo?.metadata.index ?? 0
        if index > snapshotIndex { throw DiskStorageError.compactBeyondSnapshot(index: index, snapshotIndex: snapshotIndex) }
        let term = state.term(at: index)!
        buffer.removeAll(keepingCapacity: true)
        WALRecord.appendCompact(index: index, term: term, to: &buffer)
        let header = wal.needsRotation ? wal.nextHeader(state: state, reset: false) : nil
        try guarded { () throws(DiskStorageError) in
            try wal.write(buffer, rotateWith: header)
            try wal.sync()
        }
        state.compact(through: index)
        try guarded { () throws(DiskStorageError) in try wal.removeObsoleteSegments(compactedThrough: index) }
    }

    /// Syncs what is unsynced and releases the directory. Later calls throw ``DiskStorageError/closed``.
    public func close() throws {
        guard !isClosed else { return }
        defer {
            isClosed = true
            wal.close()
            lock = nil
            chunkReaders.removeAll()
            staged?.abort()
            staged = nil
        }
        if failure == nil { try syncLog() }
    }

    // MARK: Helpers

    /// The entries newer than `after`, checked to be consecutive and to start at most at `last + 1`.
    private static func checkedNewer(_ entries: [LogEntry], after base: UInt64, last: UInt64) throws -> ArraySlice<LogEntry> {
        for i in entries.indices.dropFirst() where entries[i].index != entries[i - 1].index &+ 1 {
            throw DiskStorageError.invalidArgument("entries are not consecutive: \(entries[i - 1].index) then \(entries[i].index)")
        }
        guard let first = entries.first, entries[entries.count - 1].index > base else { return [] }
        let newer = first.index > base ? entries[...] : entries[Int(base + 1 - first.index)...]
        if newer[newer.startIndex].index > last + 1 { throw StorageError.unavailable }
        return newer
    }

    private func checkWritable() throws(DiskStorageError) {
        if isClosed { throw .closed }
        if let failure { throw .failed(cause: failure) }
    }

    private func syncLog() throws(DiskStorageError) {
        try guarded { () throws(DiskStorageError) in try wal.sync() }
    }

    /// Runs a write; on failure the storage is poisoned: it refuses every later write.
    private func guarded<T>(_ body: () throws(DiskStorageError) -> T) throws(DiskStorageError) -> T {
        do {
            return try body()
        } catch {
            if failure == nil { failure = error.description }
            throw error
        }
    }
}

/// One log write between ``DiskStorage/prepareWrite(hardState:entries:sync:)`` and
/// ``DiskStorage/completeWrite(_:)``: the entries and hard state, and their encoded records.
public struct LogWrite: Sendable {
    public let hardState: HardState?
    public let entries: ArraySlice<LogEntry>
    public let sync: Bool
    var records: [UInt8] = []
    var header: SegmentHeader?

    /// A write for a storage that needs nothing encoded ahead (one held in memory).
    public init(hardState: HardState?, entries: ArraySlice<LogEntry>, sync: Bool) {
        self.hardState = hardState
        self.entries = entries
        self.sync = sync
    }
}
