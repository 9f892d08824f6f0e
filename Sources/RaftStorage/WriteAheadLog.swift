import Glibc
import RaftCore
import RaftMessages

/// One segment file: `<wal-dir>/<sequence>-<first index>.wal`, each number as 16 hex digits.
/// The first index is the index the segment's first new entry would have (the log's last index
/// when the segment started, plus one).
struct SegmentFile {
    var sequence: UInt64
    var firstIndex: UInt64
    var header: SegmentHeader

    static func name(sequence: UInt64, firstIndex: UInt64) -> String {
        hex16(sequence) + "-" + hex16(firstIndex) + ".wal"
    }

    static func parseName(_ name: String) -> (sequence: UInt64, firstIndex: UInt64)? {
        guard name.hasSuffix(".wal") else { return nil }
        let parts = name.dropLast(4).split(separator: "-")
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
            let sequence = UInt64(parts[0], radix: 16), let firstIndex = UInt64(parts[1], radix: 16)
        else { return nil }
        return (sequence, firstIndex)
    }

    var name: String { Self.name(sequence: sequence, firstIndex: firstIndex) }
}

/// What recovery found and did; the node logs the warnings and exports the counters.
public struct RecoveryReport: Sendable, Hashable {
    /// Segments replayed.
    public var segments = 0
    /// Records replayed (segment headers included).
    public var records = 0
    /// Entries held after replay.
    public var entries = 0
    /// Torn tails truncated (0 or 1: only the last segment may have one).
    public var tornTailsTruncated = 0
    /// Bytes cut off by that truncation.
    public var truncatedBytes = 0
    /// One line per repair, each naming the file and offset.
    public var warnings: [String] = []
    /// The snapshot loaded, if any.
    public var snapshot: SnapshotMetadata?
}

/// The segmented, append-only write-ahead log: replay on open, appends with group commit,
/// rotation at a size bound, and deletion of segments that compaction made unnecessary.
final class WriteAheadLog {
    let directory: String
    let segmentSize: Int
    /// False only with `DiskStorageOptions.unsafeNoFsync`.
    let durable: Bool
    private(set) var segments: [SegmentFile] = []
    private var current: FileDescriptor?
    /// Bytes in the current segment (where the next record goes).
    private(set) var currentSize = 0
    /// The current segment's file length: zeros from `currentSize` up to here.
    private var fileLength = 0
    let preallocationBytes: Int
    /// Bytes written to the current segment since its last fdatasync.
    private var unsynced = false
    /// A segment was created since the directory was last fsynced.
    private var directoryUnsynced = false
    /// Called with the duration of every log fdatasync (`raft_wal_fsync_duration_seconds`).
    var syncObserver: ((Duration) -> Void)?
    private(set) var syncs = 0
    private(set) var bytesWritten = 0
    /// Tests only: the next write (which then writes half its bytes) or sync fails with this errno.
    var injectedFault: (operation: String, errno: Int32)?

    init(directory: String, segmentSize: Int, durable: Bool, preallocationBytes: Int = 0) {
        self.directory = directory
        self.segmentSize = segmentSize
        self.durable = durable
        self.preallocationBytes = max(0, preallocationBytes)
    }

    private func path(_ segment: SegmentFile) -> String { directory + "/" + segment.name }

    var needsRotation: Bool { current == nil || currentSize >= segmentSize }

    // MARK: Recovery

    /// Replays every segment into a fresh `LogState`. A damaged record at the end of the last
    /// segment, with nothing valid after it, is a torn write: it is cut off (and reported).
    /// Anything else damaged throws, naming the file and offset.
    func replay(report: inout RecoveryReport) throws(DiskStorageError) -> LogState {
        var found: [(sequence: UInt64, firstIndex: UInt64)] = []
        for name in try FileSystem.list(directory) {
            if let parsed = SegmentFile.parseName(name) {
                found.append(parsed)
            } else if name.hasSuffix(".wal") {
                throw .corruptRecord(file: directory + "/" + name, offset: 0, reason: "not a segment name")
            }
        }
        found.sort { $0.sequence < $1.sequence }
        for i in found.indices.dropFirst() where found[i].sequence != found[i - 1].sequence + 1 {
            let missing = found[i - 1].sequence + 1
            throw .missingSegment(
                file: directory + "/" + hex16(missing) + "-*.wal",
                reason: "segment sequence jumps from \(found[i - 1].sequence) to \(found[i].sequence)")
        }
        var state = LogState()
        /// Set when the oldest segment kept starts after entries it does not hold: compaction
        /// must reach this index by the end of replay, or those entries were lost.
        var mustCompactThrough: (index: UInt64, file: String)?
        /// The highest compaction point any record states (headers, compact records).
        var compactedThrough: UInt64 = 0
        for (position, (sequence, firstIndex)) in found.enumerated() {
            let isLast = position == found.count - 1
            let name = SegmentFile.name(sequence: sequence, firstIndex: firstIndex)
            let file = directory + "/" + name
            let handle = try FileDescriptor.open(file, flags: O_RDWR)
            let bytes = try handle.readAll()
            var header: SegmentHeader?
            let validEnd = try bytes.withBytes { (raw) throws(DiskStorageError) -> Int in
                var offset = 0
                while true {
                    switch WALFrame.read(raw, at: offset) {
                    case .end:
                        return offset
                    case .unknown(let reason):
                        throw .corruptRecord(file: file, offset: offset, reason: reason)
                    case .damaged(let reason):
                        if WALFrame.isZero(raw, from: offset) {
                            // The preallocated, never written rest of the segment.
                            return offset
                        }
                        if isLast && !WALFrame.validRecordExists(in: raw, after: offset) {
                            report.tornTailsTruncated += 1
                            report.truncatedBytes += raw.count - offset
                            report.warnings.append(
                                "truncated torn tail of \(file) at byte offset \(offset) (\(raw.count - offset) bytes): \(reason)")
                            return offset
                        }
                        throw .corruptRecord(file: file, offset: offset, reason: reason)
                    case .record(let type, let range, let next):
                        let payload = UnsafeRawBufferPointer(rebasing: raw[range])
                        func corrupt(_ reason: String) -> DiskStorageError {
                            .corruptRecord(file: file, offset: offset, reason: reason)
                        }
                        report.records += 1
                        if header == nil {
                            guard type == .segmentHeader, let h = WALRecord.decodeHeader(payload) else {
                                throw corrupt("segment does not start with a segment header")
                            }
                            guard h.sequence == sequence, h.lastIndex + 1 == firstIndex else {
                                throw corrupt("segment header (sequence \(h.sequence), last index \(h.lastIndex)) does not match the file name")
                            }
                            if position == 0 || h.reset {
                                if h.lastIndex > h.snapshotIndex && !h.reset {
                                    // Entries through lastIndex were in deleted segments.
                                    state.reset(index: h.lastIndex, term: h.lastTerm)
                                    mustCompactThrough = (h.lastIndex, file)
                                } else {
                                    state.reset(index: h.snapshotIndex, term: h.snapshotTerm)
                                }
                            } else if h.lastIndex != state.lastIndex || h.lastTerm != state.lastTerm {
                                throw corrupt(
                                    "segment header says the log ends at index \(h.lastIndex) term \(h.lastTerm), replay ends at index \(state.lastIndex) term \(state.lastTerm)")
                            }
                            state.hardState = h.hardState
                            compactedThrough = max(compactedThrough, h.snapshotIndex)
                            header = h
                        } else {
                            switch type {
                            case .segmentHeader:
                                throw corrupt("second segment header in one segment")
                            case .hardState:
                                guard let hs = WALRecord.decodeHardState(payload) else { throw corrupt("bad hard state payload") }
                                state.hardState = hs
                            case .entries:
                                guard let entries = WALRecord.decodeEntries(payload) else { throw corrupt("bad entries payload") }
                                let newer = state.newerPart(of: entries)
                                if let first = newer.first {
                                    guard first.index <= state.lastIndex + 1 else {
                                        throw corrupt("entry \(first.index) leaves a gap after last index \(state.lastIndex)")
                                    }
                                    state.append(newer)
                                }
                            case .compact:
                                guard let (index, term) = WALRecord.decodeCompact(payload) else { throw corrupt("bad compact payload") }
                                compactedThrough = max(compactedThrough, index)
                                if index == state.dummyIndex {
                                    // The dummy may come from an older segment header (see
                                    // mustCompactThrough); the record is the later word.
                                    state.reset(index: index, term: term, keepingEntries: true)
                                } else if index > state.dummyIndex {
                                    guard index <= state.lastIndex, state.term(at: index) == term else {
                                        throw corrupt("compaction through \(index) term \(term) does not match the log")
                                    }
                                    state.compact(through: index)
                                }
                            }
                        }
                        offset = next
                    }
                }
            }
            if validEnd < bytes.count {
                // A torn tail, or preallocated zeros: either way nothing may follow the last
                // valid record once we append again (leftover bytes could parse as records).
                try handle.truncate(to: validEnd)
                if durable { try handle.sync() }
            }
            report.segments += 1
            if let header {
                segments.append(SegmentFile(sequence: sequence, firstIndex: firstIndex, header: header))
                if isLast {
                    current = handle
                    currentSize = validEnd
                    fileLength = validEnd
                }
            } else {
                // Only the last segment can get here: its header record itself was torn (a crash
                // while creating it). Nothing in it was ever synced; drop the file.
                try FileSystem.remove(file)
                if durable { try FileSystem.syncDirectory(directory) }
                report.warnings.append("removed \(file): its header record was torn")
            }
        }
        if let must = mustCompactThrough, compactedThrough < must.index {
            throw .missingSegment(
                file: must.file,
                reason: "the oldest segment starts after index \(must.index) but the log is compacted only through \(compactedThrough): older segments are gone")
        }
        if current == nil, let last = segments.last {
            // The last segment was dropped: append to the one before it (the next batch rotates).
            let handle = try FileDescriptor.open(path(last), flags: O_RDWR)
            current = handle
            currentSize = try handle.size()
            fileLength = currentSize
        }
        report.entries = Int(state.lastIndex - state.dummyIndex)
        return state
    }

    // MARK: Writing

    /// Writes `records` at the end of the current segment; when `rotateWith` is given (or there
    /// is no segment yet) they go into a new segment that starts with that header instead.
    /// Nothing is synced here.
    func write(_ records: [UInt8], rotateWith header: SegmentHeader?) throws(DiskStorageError) {
        if let header {
            if unsynced, durable, let current { try current.dataSync() }
            unsynced = false
            if let current, fileLength > currentSize {
                // Give back the old segment's unused zeros (recovery would accept them anyway).
                try current.truncate(to: currentSize)
            }
            let segment = SegmentFile(sequence: header.sequence, firstIndex: header.lastIndex + 1, header: header)
            let handle = try FileDescriptor.open(path(segment), flags: O_RDWR | O_CREAT | O_EXCL)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(records.count + WALRecord.frameSize + SegmentHeader.payloadSize)
            WALRecord.appendHeader(header, to: &bytes)
            bytes.append(contentsOf: records)
            segments.append(segment)
            current = handle
            currentSize = 0
            fileLength = 0
            directoryUnsynced = true
            unsynced = true
            try handle.write(bytes, at: 0)
            currentSize = bytes.count
            fileLength = bytes.count
            bytesWritten += bytes.count
            try preallocate(handle)
        } else {
            guard let current else { preconditionFailure("write without a segment") }
            guard !records.isEmpty else { return }
            unsynced = true
            if let fault = injectedFault, fault.operation == "write" {
                injectedFault = nil
                try current.write(Array(records.prefix(records.count / 2)), at: currentSize)
                throw .io(operation: "write", path: current.path, errno: fault.errno)
            }
            try current.write(records, at: currentSize)
            currentSize += records.count
            fileLength = max(fileLength, currentSize)
            bytesWritten += records.count
            try preallocate(current)
        }
    }

    /// Keeps the segment zero-filled at least `preallocationBytes / 2` past the last record,
    /// extending it by `preallocationBytes` at a time; the next fdatasync makes the new length
    /// durable once, and appends up to it change no metadata.
    private func preallocate(_ handle: FileDescriptor) throws(DiskStorageError) {
        guard preallocationBytes > 0, fileLength - currentSize < preallocationBytes / 2 else { return }
        if zeros.count != preallocationBytes { zeros = [UInt8](repeating: 0, count: preallocationBytes) }
        try handle.write(zeros, at: fileLength)
        fileLength += preallocationBytes
    }

    private var zeros: [UInt8] = []

    /// The header a segment started now would carry.
    func nextHeader(state: LogState, reset: Bool) -> SegmentHeader {
        SegmentHeader(
            sequence: (segments.last?.sequence ?? 0) + 1, reset: reset, hardState: state.hardState,
            snapshotIndex: state.dummyIndex, snapshotTerm: state.dummyTerm, lastIndex: state.lastIndex,
            lastTerm: state.lastTerm)
    }

    /// Makes everything written so far durable: one fdatasync of the current segment (and one
    /// fsync of the directory after a new segment was created).
    func sync() throws(DiskStorageError) {
        if unsynced, let current {
            if let fault = injectedFault, fault.operation == "fdatasync" {
                injectedFault = nil
                throw .io(operation: "fdatasync", path: current.path, errno: fault.errno)
            }
            if durable {
                let clock = ContinuousClock()
                let start = clock.now
                Failpoint.walFsync.hit()
                try current.dataSync()
                syncObserver?(clock.now - start)
            }
            syncs += 1
            unsynced = false
        }
        if directoryUnsynced {
            if durable { try FileSystem.syncDirectory(directory) }
            directoryUnsynced = false
        }
    }

    var hasUnsynced: Bool { unsynced || directoryUnsynced }

    /// Deletes, oldest first, the segments that replay no longer needs now that the log is
    /// compacted through `compactedThrough`: all before the newest segment whose header is a
    /// reset or starts at or below that index. Call only once that compaction is durable.
    func removeObsoleteSegments(compactedThrough: UInt64) throws(DiskStorageError) {
        guard
            let keepFrom = segments.lastIndex(where: { $0.header.reset || $0.header.lastIndex <= compactedThrough }),
            keepFrom > 0
        else { return }
        for segment in segments[..<keepFrom] {
            try FileSystem.remove(path(segment))
        }
        segments.removeFirst(keepFrom)
    }

    /// Closes the current segment (after the caller synced what it wanted).
    func close() {
        current = nil
    }
}
