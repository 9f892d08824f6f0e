import Foundation
import RaftCore
import RaftMessages
import Testing

@testable import RaftStorage

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDirectory {
    let path: String

    init(_ label: String = "raftstorage") {
        let template = NSTemporaryDirectory() + "\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: made!)
    }

    /// The data directory used by most tests.
    var data: String { path + "/data" }

    func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// RaftCore's seeded generator with the helpers these tests use, so that a seed replays a run.
struct TestRandom: RandomNumberGenerator {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { generator.next() }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

/// Seeds for property tests: `RAFT_STORAGE_SEED=n` replays one; otherwise `count` fixed ones
/// (`RAFT_STORAGE_SEEDS=n` for more) plus one from the clock (printed on failure).
func testSeeds(count: Int) -> [UInt64] {
    let environment = ProcessInfo.processInfo.environment
    if let text = environment["RAFT_STORAGE_SEED"], let seed = UInt64(text) {
        return [seed]
    }
    let count = environment["RAFT_STORAGE_SEEDS"].flatMap { Int($0) } ?? count
    return (1...UInt64(max(1, count))).map { $0 &* 0x1000_0001 } + [UInt64(Date().timeIntervalSince1970 * 1000)]
}

func entries(_ range: ClosedRange<UInt64>, term: UInt64, size: Int = 8) -> [LogEntry] {
    range.map { index in
        LogEntry(index: index, term: term, type: .normal, data: (0..<size).map { UInt8(truncatingIfNeeded: Int(index) &+ $0) })
    }
}

/// Everything `Storage` reports, for comparing two storages.
struct StorageView: Equatable, CustomStringConvertible {
    var hardState: HardState
    var configuration: Configuration
    var firstIndex: UInt64
    var lastIndex: UInt64
    var dummyTerm: UInt64
    var entries: [LogEntry]
    var snapshot: SnapshotMetadata
    var snapshotData: [UInt8]

    init(_ storage: some Storage) throws {
        let (hardState, configuration) = try storage.initialState()
        self.hardState = hardState
        self.configuration = configuration
        firstIndex = try storage.firstIndex()
        lastIndex = try storage.lastIndex()
        dummyTerm = try storage.term(firstIndex - 1)
        entries = try storage.entries(firstIndex, lastIndex + 1, maxSize: .max)
        let snapshot = try storage.snapshot()
        self.snapshot = snapshot.metadata
        // A disk storage keeps the stream on disk and hands it out in chunks.
        snapshotData = snapshot.isStreamed
            ? try storage.snapshotChunk(index: snapshot.metadata.index, offset: 0, count: snapshot.size) : snapshot.data
    }

    var description: String {
        "hs=\(hardState) first=\(firstIndex) last=\(lastIndex) dummyTerm=\(dummyTerm) snap=\(snapshot) entries=\(entries.map { "\($0.index)/\($0.term)" })"
    }
}

func segmentFiles(_ data: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: data + "/wal").filter { $0.hasSuffix(".wal") }.sorted()
        .map { data + "/wal/" + $0 }
}

func snapFiles(_ data: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: data + "/snap").filter { $0.hasSuffix(".snap") }.sorted()
        .map { data + "/snap/" + $0 }
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Opens `directory` and expects it to fail with `DiskStorageError`; returns the error.
func openFailure(_ directory: String, options: DiskStorageOptions = DiskStorageOptions()) -> DiskStorageError? {
    do {
        let storage = try DiskStorage(directory: directory, options: options)
        try? storage.close()
        return nil
    } catch {
        return error
    }
}
