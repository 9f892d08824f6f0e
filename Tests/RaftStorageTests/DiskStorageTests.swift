import Foundation
import Glibc
import RaftCore
import RaftMessages
import RaftZlib
import Testing

@testable import RaftStorage

@Suite struct DiskStorageTests {
    @Test func freshDirectoryIsEmptyAndLaidOut() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data, options: DiskStorageOptions(voters: [1, 2, 3]))
        let view = try StorageView(storage)
        #expect(view == (try StorageView(MemoryStorage(voters: [1, 2, 3]))))
        #expect(FileManager.default.fileExists(atPath: dir.data + "/LOCK"))
        #expect(try segmentFiles(dir.data) == [dir.data + "/wal/0000000000000001-0000000000000001.wal"])
        #expect(try snapFiles(dir.data).isEmpty)
        try storage.close()
    }

    /// Appends land in blocks the segment already has (zero-filled ahead), so their fdatasync
    /// changes no file size; a reopen reads the zeros as the end of the log, not damage.
    @Test func segmentsAreZeroFilledAheadAndReopenCleanly() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let options = DiskStorageOptions(voters: [1, 2, 3], preallocationBytes: 64 * 1024)
        let storage = try DiskStorage(directory: dir.data, options: options)
        var written = 0
        for i in 1...200 as ClosedRange<UInt64> {
            try storage.persist(hardState: nil, entries: entries(i...i, term: 1, size: 100), snapshot: nil, sync: true)
            written += 100
        }
        let segment = try #require(try segmentFiles(dir.data).last)
        let bytes = try readFile(segment)
        #expect(bytes.count >= written + 32 * 1024, "zero-filled at least half a step ahead")
        #expect(bytes.suffix(32 * 1024).allSatisfy { $0 == 0 })
        try storage.close()
        let reopened = try DiskStorage(directory: dir.data, options: options)
        #expect(try reopened.lastIndex() == 200)
        #expect(reopened.recoveryReport.warnings.isEmpty && reopened.recoveryReport.tornTailsTruncated == 0)
        try reopened.close()
    }

    @Test func reopenKeepsHardStateLogAndSnapshot() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let model = MemoryStorage(voters: [1, 2, 3])
        do {
            let storage = try DiskStorage(directory: dir.data, options: DiskStorageOptions(segmentSize: 300, voters: [1, 2, 3]))
            try storage.persist(hardState: HardState(term: 1, vote: 2, commit: 0), entries: entries(1...5, term: 1), snapshot: nil, sync: true)
            try model.append(entries(1...5, term: 1))
            model.setHardState(HardState(term: 1, vote: 2, commit: 0))
            // A conflicting append (§5.3) drops the suffix from index 4.
            try storage.persist(hardState: HardState(term: 2, vote: 3, commit: 3), entries: entries(4...20, term: 2), snapshot: nil, sync: true)
            try model.append(entries(4...20, term: 2))
            model.setHardState(HardState(term: 2, vote: 3, commit: 3))
            try storage.createSnapshot(10, data: [1, 2, 3], configuration: Configuration(voterIDs: [1, 2, 3, 4]))
            try model.createSnapshot(10, data: [1, 2, 3], configuration: Configuration(voterIDs: [1, 2, 3, 4]))
            try storage.compact(8)
            try model.compact(8)
            #expect(try StorageView(storage) == StorageView(model))
            #expect(storage.segmentCount >= 1)
            try storage.close()
        }
        let reopened = try DiskStorage(directory: dir.data, options: DiskStorageOptions(segmentSize: 300, voters: [1, 2, 3]))
        #expect(try StorageView(reopened) == StorageView(model))
        #expect(reopened.recoveryReport.tornTailsTruncated == 0)
        #expect(reopened.recoveryReport.warnings.isEmpty)
        try reopened.close()
    }

    @Test func entriesRespectMaxSizeAndBounds() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data)
        defer { try? storage.close() }
        try storage.append(entries(1...10, term: 1, size: 100))
        #expect(try storage.entries(1, 11, maxSize: 0).count == 1)
        #expect(try storage.entries(1, 11, maxSize: 250).count == 2)
        #expect(throws: StorageError.unavailable) { try storage.entries(1, 12, maxSize: .max) }
        #expect(throws: StorageError.unavailable) { try storage.append(entries(12...12, term: 1)) }
        try storage.createSnapshot(5, data: [9], configuration: Configuration(voterIDs: [1, 2, 3]))
        try storage.compact(5)
        #expect(throws: StorageError.compacted) { try storage.entries(5, 6, maxSize: .max) }
        #expect(throws: StorageError.compacted) { try storage.term(4) }
        #expect(try storage.term(5) == 1)
        #expect(throws: StorageError.snapshotOutOfDate) { try storage.createSnapshot(5, data: [], configuration: Configuration(voterIDs: [1, 2, 3])) }
        #expect(throws: DiskStorageError.compactBeyondSnapshot(index: 7, snapshotIndex: 5)) { try storage.compact(7) }
        #expect(throws: DiskStorageError.self) { try storage.append([LogEntry(index: 11, term: 1), LogEntry(index: 13, term: 1)]) }
    }

    /// A snapshot is written off the node's loop (sealed on a background thread, published
    /// later): until `commitSnapshot` nothing a restart would see changes, and one overtaken by
    /// a leader's snapshot installed meanwhile is dropped without a trace.
    @Test func aSealedSnapshotIsInvisibleUntilCommittedAndDroppedWhenOvertaken() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let voters = Configuration(voterIDs: [1, 2, 3])
        do {
            let storage = try DiskStorage(directory: dir.data)
            try storage.append(entries(1...10, term: 1))
            let writer = try storage.beginSnapshot(index: 8, configuration: voters)
            try writer.write(Array(repeating: UInt8(3), count: 100_000))
            try writer.seal()
            #expect(storage.snapshotFile == nil)
            #expect(try snapFiles(dir.data).isEmpty, "only a temporary file so far")
            try storage.close()
        }
        do {
            // A restart before the commit sees no snapshot.
            let storage = try DiskStorage(directory: dir.data)
            #expect(storage.snapshotFile == nil)
            let writer = try storage.beginSnapshot(index: 8, configuration: voters)
            try writer.write(Array(repeating: UInt8(3), count: 100_000))
            try writer.seal()
            #expect(writer.rawBytes == 100_000 && writer.compressedBytes > 0 && writer.compressedBytes < 10_000)
            // A leader's snapshot beyond it is installed meanwhile.
            try storage.applySnapshot(
                Snapshot(metadata: SnapshotMetadata(index: 20, term: 2, configuration: voters), data: [1, 2, 3]))
            #expect(throws: StorageError.snapshotOutOfDate) { try storage.commitSnapshot(writer) }
            #expect(storage.snapshotFile?.metadata.index == 20)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.data + "/snap")
            #expect(files.count == 1 && files[0].hasSuffix(".snap"), "\(files)")
            try storage.close()
        }
    }

    @Test func applySnapshotReplacesTheLogDurably() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let options = DiskStorageOptions(segmentSize: 200, voters: [1, 2, 3])
        let model = MemoryStorage(voters: [1, 2, 3])
        let leaderSnapshot = Snapshot(metadata: SnapshotMetadata(index: 50, term: 4, configuration: Configuration(voterIDs: [1, 2, 3])), data: Array(repeating: 7, count: 1000))
        do {
            let storage = try DiskStorage(directory: dir.data, options: options)
            for start in stride(from: UInt64(1), through: 28, by: 3) {
                try storage.append(entries(start...(start + 2), term: 1))
                try model.append(entries(start...(start + 2), term: 1))
            }
            #expect(storage.segmentCount > 1)
            // One Ready: the snapshot, entries after it and a hard state, with one call.
            try storage.persist(
                hardState: HardState(term: 4, vote: 1, commit: 52), entries: entries(51...55, term: 4), snapshot: leaderSnapshot,
                sync: true)
            try model.applySnapshot(leaderSnapshot)
            try model.append(entries(51...55, term: 4))
            model.setHardState(HardState(term: 4, vote: 1, commit: 52))
            #expect(try StorageView(storage) == StorageView(model))
            #expect(storage.segmentCount == 1)
            #expect(throws: StorageError.snapshotOutOfDate) { try storage.applySnapshot(leaderSnapshot) }
            try storage.close()
        }
        let reopened = try DiskStorage(directory: dir.data, options: options)
        #expect(try StorageView(reopened) == StorageView(model))
        #expect(try snapFiles(dir.data) == [dir.data + "/snap/0000000000000004-0000000000000032.snap"])
        try reopened.close()
    }

    @Test func interruptedSnapshotInstallIsFinishedOnOpen() throws {
        // The leader's snapshot file is durable but the crash came before the log was reset.
        let dir = TempDirectory()
        defer { dir.cleanup() }
        do {
            let storage = try DiskStorage(directory: dir.data)
            try storage.persist(hardState: HardState(term: 1, vote: 1, commit: 3), entries: entries(1...5, term: 1), snapshot: nil, sync: true)
            try storage.close()
        }
        let writer = try SnapshotWriter(
            directory: dir.data + "/snap", metadata: SnapshotMetadata(index: 9, term: 2, configuration: Configuration(voterIDs: [1])), precompressed: true,
            installed: true)
        try writer.write([1, 2, 3])
        try writer.finish()
        let reopened = try DiskStorage(directory: dir.data)
        #expect(try reopened.firstIndex() == 10)
        #expect(try reopened.lastIndex() == 9)
        #expect(try reopened.term(9) == 2)
        #expect(reopened.hardState == HardState(term: 1, vote: 1, commit: 9))
        #expect(reopened.recoveryReport.warnings.count == 1)
        try reopened.close()
        let again = try DiskStorage(directory: dir.data)
        #expect(again.recoveryReport.warnings.isEmpty)
        #expect(try again.lastIndex() == 9)
        try again.close()
    }

    @Test func oneFsyncPerBatch() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data)
        var observed = 0
        storage.syncObserver = { _ in observed += 1 }
        let syncsBefore = storage.syncCount
        for start in stride(from: UInt64(1), through: 250, by: 50) {
            try storage.persist(
                hardState: HardState(term: 1, vote: 1, commit: start), entries: entries(start...(start + 49), term: 1),
                snapshot: nil, sync: true)
        }
        #expect(storage.syncCount - syncsBefore == 5)
        #expect(observed == 5)
        try storage.persist(hardState: HardState(term: 1, vote: 1, commit: 300), entries: [], snapshot: nil, sync: false)
        #expect(storage.syncCount - syncsBefore == 5)
        try storage.close()
    }

    @Test func unsyncedWritesAreSyncedByCloseAndSync() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data)
        try storage.persist(hardState: nil, entries: entries(1...3, term: 1), snapshot: nil, sync: false)
        try storage.sync()
        try storage.persist(hardState: HardState(term: 1, vote: 0, commit: 3), entries: entries(4...4, term: 1), snapshot: nil, sync: false)
        try storage.close()
        #expect(throws: DiskStorageError.closed) { try storage.append(entries(5...5, term: 1)) }
        let reopened = try DiskStorage(directory: dir.data)
        #expect(try reopened.lastIndex() == 4)
        #expect(reopened.hardState.commit == 3)
        try reopened.close()
    }

    @Test func streamedSnapshotThroughTheStorage() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data, options: DiskStorageOptions(voters: [1]))
        try storage.append(entries(1...10, term: 3))
        let writer = try storage.beginSnapshot(index: 8, configuration: Configuration(voterIDs: [1]))
        let raw = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 / 7) }
        for start in stride(from: 0, to: raw.count, by: 4096) { try writer.write(raw[start..<min(start + 4096, raw.count)]) }
        let meta = try storage.commitSnapshot(writer)
        #expect(meta == SnapshotMetadata(index: 8, term: 3, configuration: Configuration(voterIDs: [1])))
        try storage.compact(8)
        // What the core sends is the zlib stream: Storage.snapshot() gives its length, and
        // snapshotChunk its bytes, a piece at a time.
        let snapshot = try storage.snapshot()
        #expect(snapshot.isStreamed && snapshot.data.isEmpty)
        var stream: [UInt8] = []
        for offset in stride(from: 0, to: snapshot.size, by: 1000) {
            stream += try storage.snapshotChunk(index: 8, offset: offset, count: min(1000, snapshot.size - offset))
        }
        #expect(stream == (try storage.loadSnapshot().data))
        #expect(try ZlibInflater.decompress(stream) == raw)
        #expect(throws: StorageError.snapshotOutOfDate) { try storage.snapshotChunk(index: 7, offset: 0, count: 1) }
        let reader = try #require(try storage.openSnapshot())
        var back: [UInt8] = []
        while let chunk = try reader.nextRawChunk() { back += chunk }
        #expect(back == raw)
        #expect(reader.info.rawSize == UInt64(raw.count))
        try storage.close()
    }

    @Test func failedSyncPoisonsTheStorage() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data)
        try storage.append(entries(1...3, term: 1))
        storage.injectFault("fdatasync", errno: EIO)
        #expect(throws: DiskStorageError.io(operation: "fdatasync", path: try segmentFiles(dir.data).last!, errno: EIO)) {
            try storage.append(entries(4...4, term: 1))
        }
        // It cannot know what is durable: it refuses every later write.
        #expect(try storage.lastIndex() == 3)
        let error = #expect(throws: DiskStorageError.self) { try storage.setHardState(HardState(term: 2, vote: 0, commit: 0)) }
        guard case .failed(let cause)? = error else {
            Issue.record("expected .failed, got \(String(describing: error))")
            return
        }
        #expect(cause.contains("fdatasync"))
        try storage.close()
    }

    @Test func failedWriteLeavesATornTailThatRecoveryCuts() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data)
        try storage.append(entries(1...3, term: 1))
        storage.injectFault("write", errno: ENOSPC)
        let error = #expect(throws: DiskStorageError.self) { try storage.append(entries(4...9, term: 1, size: 100)) }
        #expect(error?.description.contains("No space left on device") == true)
        #expect(throws: DiskStorageError.self) { try storage.append(entries(4...4, term: 1)) }
        try storage.close()
        let reopened = try DiskStorage(directory: dir.data)
        #expect(try reopened.lastIndex() == 3)
        #expect(reopened.recoveryReport.tornTailsTruncated == 1)
        try reopened.append(entries(4...4, term: 1))
        try reopened.close()
    }
}
