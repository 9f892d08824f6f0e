import RaftCore
import RaftMessages

/// What the simulated cluster needs from a server's stable storage: the core's read-only
/// `Storage` plus the driver's write side (6.824's `Persister`). `MemoryStorage` is the default;
/// a durable storage (RaftStorage's `DiskStorage`) conforms in its own tests.
public protocol SimPersister: Storage {
    /// The persisted hard state (for `raftStateSize`).
    var hardState: HardState { get }
    /// The entries after the compaction point (for `raftStateSize`).
    var logEntries: ArraySlice<LogEntry> { get }
    /// Ready step 1, in its order: a leader's snapshot, the entries (replacing a conflicting
    /// suffix), the hard state; each durable on return.
    func applySnapshot(_ snapshot: Snapshot) throws
    /// Ready step 1 for a snapshot arriving in chunks (before `applySnapshot`).
    func stageSnapshotChunks(_ chunks: [SnapshotChunk]) throws
    /// The current snapshot with its stream in `data` (the tester hands it to the service).
    func loadSnapshot() throws -> Snapshot
    func append(_ entries: [LogEntry]) throws
    func setHardState(_ hardState: HardState) throws
    /// The service's `Snapshot(index, data)`, with the configuration applied at `index`.
    @discardableResult
    func createSnapshot(_ index: UInt64, data: [UInt8], configuration: Configuration) throws -> Snapshot
    func compact(_ index: UInt64) throws
}

extension MemoryStorage: SimPersister {}

/// How a simulated cluster makes its servers' persisters and what a crash does to them.
public struct PersisterFactory: Sendable {
    /// The persister of server `server` (0-based) on its first start.
    public var make: @Sendable (_ server: Int, _ voters: [UInt64]) throws -> any SimPersister
    /// 6.824 `Persister.Copy` at a crash: what a restarted instance of `server` reads, given the
    /// persister `old` of the instance that died. Nothing done through `old` afterwards may reach
    /// the result (a disk storage closes `old` and reopens its directory).
    public var crash: @Sendable (_ server: Int, _ old: any SimPersister) throws -> any SimPersister
    /// Called once when the cluster is cleaned up (remove temp directories).
    public var cleanup: @Sendable () -> Void

    public init(
        make: @escaping @Sendable (_ server: Int, _ voters: [UInt64]) throws -> any SimPersister,
        crash: @escaping @Sendable (_ server: Int, _ old: any SimPersister) throws -> any SimPersister,
        cleanup: @escaping @Sendable () -> Void = {}
    ) {
        self.make = make
        self.crash = crash
        self.cleanup = cleanup
    }

    /// `MemoryStorage` persisters; a crash keeps a copy.
    public static let memory = PersisterFactory(
        make: { _, voters in MemoryStorage(voters: voters) },
        crash: { _, old in (old as! MemoryStorage).copy() })

    /// `MemoryStorage` persisters that hand the core snapshots streamed (`streamsSnapshots`), as
    /// a disk storage does; a crash keeps a copy.
    public static let streamingMemory = PersisterFactory(
        make: { _, voters in
            let storage = MemoryStorage(voters: voters)
            storage.streamsSnapshots = true
            return storage
        },
        crash: { _, old in (old as! MemoryStorage).copy() })

    /// The factory clusters use when none is passed: `.memory` unless a test scope sets another
    /// (`SimCluster.$defaultPersister.withValue(...)`), so that the reference scenarios can run
    /// unchanged on another storage.
    @TaskLocal public static var current: @Sendable () -> PersisterFactory = { .memory }
}
