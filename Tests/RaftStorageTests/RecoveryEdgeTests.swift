import Foundation
import RaftCore
import RaftMessages
import Testing

@testable import RaftStorage

/// Crashes at the edges of multi-file operations: segment creation, snapshot creation and the
/// removal of the snapshot a new one replaced.
@Suite struct RecoveryEdgeTests {
    static let options = DiskStorageOptions(segmentSize: 300, voters: [1, 2, 3], unsafeNoFsync: true)

    @Test func tornHeaderOfANewSegmentIsRemoved() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data, options: Self.options)
        var expected: StorageView?
        var next: UInt64 = 1
        // Write until a batch lands in a new segment; remember the state before that batch.
        for _ in 0..<100 {
            let before = try StorageView(storage)
            let segments = storage.segmentCount
            try storage.append(entries(next...(next + 1), term: 1, size: 30))
            next += 2
            if storage.segmentCount > segments && segments > 1 {
                expected = before
                break
            }
        }
        try storage.close()
        let state = try #require(expected)
        let newest = try segmentFiles(dir.data).last!
        let bytes = try readFile(newest)
        let headerEnd = WALRecord.frameSize + SegmentHeader.payloadSize
        for cut in 0..<headerEnd {
            try writeFile(newest, Array(bytes[..<cut]))
            let reopened = try DiskStorage(directory: dir.data, options: Self.options)
            #expect(try StorageView(reopened) == state, "cut at \(cut)")
            #expect(!FileManager.default.fileExists(atPath: newest), "cut at \(cut)")
            #expect(reopened.recoveryReport.warnings.contains { $0.contains(newest) }, "cut at \(cut)")
            // Appending goes on (into a new segment with the same sequence number).
            let last = try reopened.lastIndex()
            try reopened.append(entries((last + 1)...(last + 1), term: 2))
            try reopened.close()
            let again = try DiskStorage(directory: dir.data, options: Self.options)
            #expect(try again.lastIndex() == last + 1 && again.term(last + 1) == 2)
            try again.close()
            for file in try segmentFiles(dir.data) where file >= newest { try FileManager.default.removeItem(atPath: file) }
        }
    }

    @Test func unfinishedAndReplacedSnapshotsAreCleanedUp() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        do {
            let storage = try DiskStorage(directory: dir.data, options: Self.options)
            try storage.append(entries(1...20, term: 1))
            try storage.createSnapshot(5, data: [5], configuration: Configuration(voterIDs: [1, 2, 3]))
            try storage.close()
        }
        let snap = dir.data + "/snap/"
        let older = try snapFiles(dir.data)[0]
        // A crash after the rename of a newer snapshot but before the older one was removed ...
        let writer = try SnapshotWriter(
            directory: snap, metadata: SnapshotMetadata(index: 10, term: 1, configuration: Configuration(voterIDs: [1, 2, 3])), precompressed: true, durable: false)
        try writer.write([10])
        try writer.finish()
        #expect(FileManager.default.fileExists(atPath: older))
        // ... and a crash in the middle of writing a third one.
        try writeFile(snap + "0000000000000001-000000000000000f.snap.tmp", [1, 2, 3])
        let storage = try DiskStorage(directory: dir.data, options: Self.options)
        #expect(storage.snapshotFile?.metadata.index == 10)
        #expect(try storage.loadSnapshot().data == [10])
        #expect(try FileManager.default.contentsOfDirectory(atPath: snap) == ["0000000000000001-000000000000000a.snap"])
        #expect(storage.recoveryReport.warnings.count == 1)
        // Its own snapshot leaves the log alone (only a leader's replaces it).
        #expect(try storage.firstIndex() == 1 && storage.lastIndex() == 20)
        try storage.close()
    }

    @Test func trailingSlashesAreIgnored() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let storage = try DiskStorage(directory: dir.data + "//", options: Self.options)
        #expect(storage.directory == dir.data)
        try storage.append(entries(1...2, term: 1))
        try storage.close()
        let reopened = try DiskStorage(directory: dir.data, options: Self.options)
        #expect(try reopened.lastIndex() == 2)
        try reopened.close()
    }
}
