import Foundation
import Glibc
import RaftCore
import RaftMessages
import Testing

@testable import RaftStorage

/// Damage that is not a torn tail: each must refuse to open with an error naming the file (and
/// the offset), never start with silently lost entries.
@Suite struct CorruptionTests {
    static let options = DiskStorageOptions(segmentSize: 400, voters: [1, 2, 3], unsafeNoFsync: true)

    /// A log of several segments (entries 1...60), optionally with a snapshot at 30 compacted through 20.
    static func makeLog(_ dir: TempDirectory, snapshot: Bool = false) throws {
        let storage = try DiskStorage(directory: dir.data, options: options)
        for start in stride(from: UInt64(1), through: 58, by: 3) {
            try storage.persist(
                hardState: HardState(term: 1, vote: 1, commit: start), entries: entries(start...(start + 2), term: 1, size: 20),
                snapshot: nil, sync: true)
        }
        if snapshot {
            try storage.createSnapshot(30, data: Array(repeating: 5, count: 100), configuration: Configuration(voterIDs: [1, 2, 3]))
            try storage.compact(20)
        }
        try storage.close()
    }

    @Test func badRecordInTheMiddleOfTheLog() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        try Self.makeLog(dir)
        let segments = try segmentFiles(dir.data)
        #expect(segments.count >= 3)
        // Damage a payload byte of the second record of the first segment.
        let good = try readFile(segments[0])
        var bytes = good
        let headerEnd = 9 + SegmentHeader.payloadSize
        bytes[headerEnd + 20] ^= 0x10
        try writeFile(segments[0], bytes)
        let error = openFailure(dir.data, options: Self.options)
        #expect(matches(error, segments[0], headerEnd), "\(String(describing: error))")
        #expect(error?.description.contains("\(segments[0]) at byte offset \(headerEnd)") == true)

        // The same damage in the middle of the last segment (valid records follow) is no torn tail either.
        try writeFile(segments[0], good)
        var last = try readFile(segments.last!)
        #expect(last.count > headerEnd + 60)
        last[headerEnd + 12] ^= 0x01
        try writeFile(segments.last!, last)
        #expect(matches(openFailure(dir.data, options: Self.options), segments.last!, headerEnd))
    }

    func matches(_ error: DiskStorageError?, _ file: String, _ offset: Int) -> Bool {
        if case .corruptRecord(let f, let o, _)? = error { return f == file && o == offset }
        return false
    }

    @Test func missingSegmentInTheSequence() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        try Self.makeLog(dir)
        let segments = try segmentFiles(dir.data)
        try FileManager.default.removeItem(atPath: segments[1])
        let error = openFailure(dir.data, options: Self.options)
        guard case .missingSegment(let file, let reason)? = error else {
            Issue.record("expected missingSegment, got \(String(describing: error))")
            return
        }
        #expect(file.hasPrefix(dir.data + "/wal/0000000000000002-"))
        #expect(reason.contains("from 1 to 3"))
    }

    @Test func missingOldestSegmentIsDetected() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        try Self.makeLog(dir)
        let segments = try segmentFiles(dir.data)
        try FileManager.default.removeItem(atPath: segments[0])
        let error = openFailure(dir.data, options: Self.options)
        guard case .missingSegment(let file, _)? = error else {
            Issue.record("expected missingSegment, got \(String(describing: error))")
            return
        }
        #expect(file == segments[1])
    }

    @Test func corruptSnapshotHeaderAndData() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        try Self.makeLog(dir, snapshot: true)
        let snap = try #require(try snapFiles(dir.data).first)
        #expect(snap.hasSuffix("/0000000000000001-000000000000001e.snap"))
        let good = try readFile(snap)
        // Any header byte (magic, version, index, sizes, voters, crc) refuses.
        for offset in [0, 9, 17, 33, 41, 49, 57, good.count - 101] {
            var bytes = good
            bytes[offset] ^= 0x04
            try writeFile(snap, bytes)
            let error = openFailure(dir.data, options: Self.options)
            guard case .corruptSnapshot(let file, _, _)? = error else {
                Issue.record("byte \(offset): expected corruptSnapshot, got \(String(describing: error))")
                continue
            }
            #expect(file == snap)
            #expect(error!.description.contains(snap))
        }
        // A damaged data byte fails the data crc.
        var bytes = good
        bytes[good.count - 10] ^= 0x80
        try writeFile(snap, bytes)
        let error = openFailure(dir.data, options: Self.options)
        #expect(error?.description.contains("data crc32 mismatch") == true)
        // A truncated file.
        try writeFile(snap, Array(good.prefix(good.count - 1)))
        #expect(openFailure(dir.data, options: Self.options)?.description.contains(snap) == true)
        try writeFile(snap, good)
        #expect(openFailure(dir.data, options: Self.options) == nil)
    }

    @Test func missingSnapshotAfterCompaction() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        try Self.makeLog(dir, snapshot: true)
        try FileManager.default.removeItem(atPath: try snapFiles(dir.data)[0])
        #expect(openFailure(dir.data, options: Self.options) == .missingSnapshot(directory: dir.data, compactedThrough: 20, snapshotIndex: 0))
    }

    @Test func secondOpenerIsRefused() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let first = try DiskStorage(directory: dir.data, options: Self.options)
        let error = openFailure(dir.data, options: Self.options)
        #expect(error == .locked(directory: dir.data, holderPID: getpid()))
        #expect(error?.description.contains("data directory \(dir.data) is locked by process \(getpid())") == true)
        try first.close()
        // Released on close (and by the kernel if the process dies).
        let second = try DiskStorage(directory: dir.data, options: Self.options)
        try second.close()
    }

    /// flock(1), from Debian's util-linux (essential, so on every machine the tests run on),
    /// stands in for a second raft-node. Without it the test is reported as skipped, not passed.
    static let flockTool = ["/usr/bin/flock", "/bin/flock"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The exit status flock(1) is told to use when the lock is held, so that a conflict is told
    /// apart from flock failing for another reason (status 1).
    static let flockConflict: Int32 = 75

    /// Takes the data directory's lock as another process would; returns flock(1)'s exit status.
    static func flockFromAnotherProcess(_ directory: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(flockTool))
        process.arguments = [
            "--nonblock", "--exclusive", "--conflict-exit-code", "\(flockConflict)", directory + "/LOCK", "true",
        ]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test(.enabled(if: flockTool != nil, "flock(1) is missing: install util-linux"))
    func secondProcessIsRefused() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let first = try DiskStorage(directory: dir.data, options: Self.options)
        #expect(try Self.flockFromAnotherProcess(dir.data) == Self.flockConflict, "the lock is held while open")
        try first.close()
        // The same command takes the lock once the storage is closed: the refusal above was the lock.
        #expect(try Self.flockFromAnotherProcess(dir.data) == 0, "the lock is released on close")
    }
}
