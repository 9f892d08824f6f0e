import Foundation
import RaftCore
import RaftMessages
import Testing

@testable import RaftStorage

/// Crash points (issue 4): the newest segment is cut at every byte offset of its last records,
/// or has single bits flipped, and recovery must give exactly a prefix of what was appended —
/// never less than what was synced before the damaged region — or refuse with file and offset.
@Suite struct CrashPointTests {
    /// A log written one synced record per batch, with the state after each record.
    struct History {
        var directory: String
        var segment: String
        /// The newest segment's bytes when the storage was closed.
        var bytes: [UInt8]
        /// (end offset of the record in the newest segment, state once it is durable); the first
        /// element is the state before the newest segment's first record, at its header's end.
        var points: [(end: Int, view: StorageView)]
    }

    /// Crashes are simulated by editing files, so fsync adds nothing here but time.
    /// No preallocation: the histories read record boundaries off file sizes.
    /// `zeroPaddedCutsRecoverTheSameState` covers the preallocated layout.
    static let options = DiskStorageOptions(
        segmentSize: 1500, voters: [1, 2, 3], unsafeNoFsync: true, preallocationBytes: 0)

    /// Writes batches until the newest segment holds at least `records` records, alternating
    /// entries (with a conflicting suffix now and then) and hard states.
    static func makeHistory(_ dir: TempDirectory, records: Int, seed: UInt64) throws -> History {
        var rng = TestRandom(seed: seed)
        let storage = try DiskStorage(directory: dir.data, options: options)
        var term: UInt64 = 1
        var points: [(end: Int, view: StorageView)] = []
        var segment = ""
        var batch = 0
        while batch < 400 {
            batch += 1
            let before = try StorageView(storage)
            let last = try storage.lastIndex()
            if batch % 3 == 0 {
                try storage.setHardState(HardState(term: term, vote: UInt64(batch % 3), commit: last / 2))
            } else {
                let conflict = batch % 7 == 0 && last > 3
                if conflict { term += 1 }
                let start = conflict ? last - UInt64(Int.random(in: 0...2, using: &rng)) : last + 1
                let count = UInt64(Int.random(in: 1...4, using: &rng))
                let size = Int.random(in: 0...40, using: &rng)
                try storage.append(entries(start...(start + count - 1), term: term, size: size))
            }
            let newest = try segmentFiles(dir.data).last!
            let end = try readFile(newest).count
            if newest != segment {
                // The record went into a new segment: its header ends where the record starts.
                segment = newest
                points = [(end - Self.lastRecordSize(try readFile(newest)), before)]
            }
            points.append((end, try StorageView(storage)))
            if points.count > records + 1 && batch > 40 { break }
        }
        try storage.close()
        return History(directory: dir.data, segment: segment, bytes: try readFile(segment), points: points)
    }

    /// Size of the last record in a segment (walks the frames).
    static func lastRecordSize(_ bytes: [UInt8]) -> Int {
        var offset = 0
        var last = 0
        while offset + 9 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int(loadUInt32LE($0, offset)) }
            last = 9 + length
            offset += last
        }
        return last
    }

    /// The repaired log takes a new write and keeps it across a reopen (which finds nothing
    /// to repair); then the extra segment the write may have created is removed again.
    static func writeAfterRepair(_ storage: DiskStorage, _ history: History, options: DiskStorageOptions, cut: Int) throws {
        let next = try storage.lastIndex() + 1
        try storage.append(entries(next...next, term: 99))
        try storage.close()
        let again = try DiskStorage(directory: history.directory, options: options)
        #expect(try again.lastIndex() == next && again.term(next) == 99, "cut at \(cut)")
        #expect(again.recoveryReport.tornTailsTruncated == 0 && again.recoveryReport.warnings.isEmpty, "cut at \(cut)")
        try again.close()
        for file in try segmentFiles(history.directory) where file > history.segment {
            try FileManager.default.removeItem(atPath: file)
        }
    }

    @Test func cutAtEveryByteOfTheLastRecords() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let history = try Self.makeHistory(dir, records: 6, seed: 42)
        let points = history.points
        #expect(try segmentFiles(dir.data).count > 1 && points.count >= 7)
        let firstCut = points[max(0, points.count - 6)].end - 1
        var reopenedAndWritten = 0
        for cut in max(0, firstCut)...history.bytes.count {
            try writeFile(history.segment, Array(history.bytes[..<cut]))
            // The durable state at `cut` is the last record that ends at or before it.
            let expected = points.last(where: { $0.end <= cut })?.view ?? points[0].view
            let storage = try DiskStorage(directory: history.directory, options: Self.options)
            let view = try StorageView(storage)
            #expect(view == expected, "cut at \(cut): got \(view), expected \(expected)")
            let onBoundary = points.contains { $0.end == cut }
            #expect(storage.recoveryReport.tornTailsTruncated == (onBoundary || cut == 0 ? 0 : 1), "cut at \(cut)")
            if cut % 11 == 0 {
                try Self.writeAfterRepair(storage, history, options: Self.options, cut: cut)
                reopenedAndWritten += 1
            } else {
                try storage.close()
            }
        }
        #expect(reopenedAndWritten > 0)
    }

    /// With preallocation a segment ends in zeros, and a crash leaves the last records cut
    /// anywhere followed by zeros: recovery must find the same durable state as without them,
    /// call only non-zero damage a torn tail, and take new writes after it.
    @Test func zeroPaddedCutsRecoverTheSameState() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let history = try Self.makeHistory(dir, records: 6, seed: 7)
        let points = history.points
        let firstCut = points[max(0, points.count - 6)].end - 1
        let preallocated = DiskStorageOptions(
            segmentSize: 1500, voters: [1, 2, 3], unsafeNoFsync: true, preallocationBytes: 4096)
        var reopenedAndWritten = 0
        for cut in max(0, firstCut)...history.bytes.count {
            try writeFile(history.segment, Array(history.bytes[..<cut]) + [UInt8](repeating: 0, count: 4096))
            // A record whose cut-off bytes were all zero is whole again once padded.
            let boundary = points.last(where: { point in
                point.end <= cut || history.bytes[cut..<min(point.end, history.bytes.count)].allSatisfy { $0 == 0 }
            })
            let expected = boundary?.view ?? points[0].view
            let storage = try DiskStorage(directory: history.directory, options: preallocated)
            #expect(try StorageView(storage) == expected, "cut at \(cut)")
            let partial = history.bytes[min(boundary?.end ?? cut, cut)..<cut]
            let torn = partial.contains { $0 != 0 } ? 1 : 0
            #expect(storage.recoveryReport.tornTailsTruncated == torn, "cut at \(cut)")
            if cut % 7 == 0 {
                try Self.writeAfterRepair(storage, history, options: preallocated, cut: cut)
                reopenedAndWritten += 1
            } else {
                try storage.close()
            }
        }
        #expect(reopenedAndWritten > 0)
    }

    @Test func flippedBitsInTheLastRecordAreATornTail() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let history = try Self.makeHistory(dir, records: 3, seed: 7)
        let points = history.points
        let lastStart = points[points.count - 2].end
        let expected = points[points.count - 2].view
        for byte in lastStart..<history.bytes.count {
            // Every bit of the frame (length, type, crc), one bit per payload byte.
            for bit in byte < lastStart + 9 ? Array(0..<8) : [byte % 8] {
                var damaged = history.bytes
                damaged[byte] ^= UInt8(1 << bit)
                try writeFile(history.segment, damaged)
                let storage = try DiskStorage(directory: history.directory, options: Self.options)
                #expect(try StorageView(storage) == expected, "bit \(bit) of byte \(byte)")
                #expect(storage.recoveryReport.tornTailsTruncated == 1)
                #expect(storage.recoveryReport.warnings.first?.contains("offset \(lastStart)") == true)
                try storage.close()
            }
        }
    }

    @Test func flippedBitsBeforeTheLastRecordRefuseToOpen() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let history = try Self.makeHistory(dir, records: 4, seed: 9)
        let points = history.points
        // Every bit of the two records before the last one.
        for record in (points.count - 3)..<(points.count - 1) {
            let start = points[record - 1].end
            for byte in start..<points[record].end {
                for bit in byte < start + 9 ? Array(0..<8) : [byte % 8, (byte + 3) % 8] {
                    var damaged = history.bytes
                    damaged[byte] ^= UInt8(1 << bit)
                    try writeFile(history.segment, damaged)
                    let error = openFailure(history.directory, options: Self.options)
                    guard case .corruptRecord(let file, let offset, _)? = error else {
                        Issue.record("bit \(bit) of byte \(byte): expected corruptRecord, got \(String(describing: error))")
                        continue
                    }
                    #expect(file == history.segment && offset == start, "bit \(bit) of byte \(byte): \(error!)")
                    #expect(error!.description.contains("at byte offset \(start)"))
                }
            }
        }
        // The untouched file still opens.
        try writeFile(history.segment, history.bytes)
        #expect(openFailure(history.directory, options: Self.options) == nil)
    }
}
