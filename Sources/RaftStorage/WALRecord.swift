import RaftCore
import RaftMessages
import RaftZlib

/// The kinds of record in a log segment. A record on disk is
/// `[length u32][type u8][crc32 u32 over type and payload][payload]`, little-endian,
/// `length` counting the payload only.
enum WALRecordType: UInt8 {
    /// First record of every segment: the state at the point the segment starts (see
    /// ``SegmentHeader``). Lets older segments be deleted without losing the hard state.
    case segmentHeader = 1
    /// Log entries, consecutive; the first one's index may be at or below the last index
    /// replayed so far, which drops the suffix from there on (§5.3 conflict truncation).
    case entries = 2
    /// `HardState` (term, vote, commit).
    case hardState = 3
    /// Compaction: entries through `index` (whose term is `term`) are covered by the snapshot.
    case compact = 4
}

/// The first record of a segment.
///
/// `lastIndex`/`lastTerm` is the log's last entry when the segment started, and every live entry
/// with a higher index was written in this segment or a later one. So once the log is compacted
/// through `lastIndex`, all older segments can be deleted: replay starting here needs nothing
/// from them. `reset` marks a segment started by installing a leader's snapshot (§7): the log is
/// replaced by the snapshot, whatever older segments say (`snapshot* == last*` then).
struct SegmentHeader: Equatable {
    var sequence: UInt64
    var reset: Bool
    var hardState: HardState
    var snapshotIndex: UInt64
    var snapshotTerm: UInt64
    var lastIndex: UInt64
    var lastTerm: UInt64

    static let payloadSize = 8 + 1 + 24 + 32
}

enum WALRecord {
    /// Bytes before the payload: length, type, crc.
    static let frameSize = 9
    /// Larger payloads are not written, and a length above this reads as corruption.
    static let maxPayload = 1 << 30
    /// An entries batch is split into records of about this many payload bytes.
    static let targetEntriesPayload = 1 << 20

    // MARK: Encoding

    /// Appends one framed record whose payload `body` appends to the buffer.
    static func append(_ type: WALRecordType, to buffer: inout [UInt8], _ body: (inout [UInt8]) -> Void) {
        let start = buffer.count
        buffer.appendLE(UInt32(0))
        buffer.appendLE(type.rawValue)
        buffer.appendLE(UInt32(0))
        body(&buffer)
        let length = buffer.count - start - frameSize
        precondition(length <= maxPayload, "log record payload of \(length) bytes is too large")
        buffer.storeLE(UInt32(length), at: start)
        var crc = CRC32()
        buffer.withUnsafeBytes { raw in
            crc.update(UnsafeRawBufferPointer(rebasing: raw[(start + 4)..<(start + 5)]))
            crc.update(UnsafeRawBufferPointer(rebasing: raw[(start + frameSize)...]))
        }
        buffer.storeLE(crc.value, at: start + 5)
    }

    static func appendHeader(_ header: SegmentHeader, to buffer: inout [UInt8]) {
        append(.segmentHeader, to: &buffer) { b in
            b.appendLE(header.sequence)
            b.appendLE(UInt8(header.reset ? 1 : 0))
            b.appendLE(header.hardState.term)
            b.appendLE(header.hardState.vote)
            b.appendLE(header.hardState.commit)
            b.appendLE(header.snapshotIndex)
            b.appendLE(header.snapshotTerm)
            b.appendLE(header.lastIndex)
            b.appendLE(header.lastTerm)
        }
    }

    static func appendHardState(_ state: HardState, to buffer: inout [UInt8]) {
        append(.hardState, to: &buffer) { b in
            b.appendLE(state.term)
            b.appendLE(state.vote)
            b.appendLE(state.commit)
        }
    }

    static func appendCompact(index: UInt64, term: UInt64, to buffer: inout [UInt8]) {
        append(.compact, to: &buffer) { b in
            b.appendLE(index)
            b.appendLE(term)
        }
    }

    /// Bytes one entry takes in an entries record.
    static func entrySize(_ entry: LogEntry) -> Int { 21 + entry.data.count }

    /// Appends `entries` as one or more entries records of about `targetEntriesPayload` bytes.
    static func appendEntries(_ entries: ArraySlice<LogEntry>, to buffer: inout [UInt8]) {
        var start = entries.startIndex
        while start < entries.endIndex {
            var end = start
            var size = 4
            while end < entries.endIndex && (end == start || size + entrySize(entries[end]) <= targetEntriesPayload) {
                size += entrySize(entries[end])
                end += 1
            }
            append(.entries, to: &buffer) { b in
                b.reserveCapacity(b.count + size)
                b.appendLE(UInt32(end - start))
                for entry in entries[start..<end] {
                    b.appendLE(entry.index)
                    b.appendLE(entry.term)
                    b.appendLE(UInt8(truncatingIfNeeded: entry.type.rawValue))
                    b.appendLE(UInt32(entry.data.count))
                    b.append(contentsOf: entry.data)
                }
            }
            start = end
        }
    }

    // MARK: Decoding

    static func decodeHeader(_ payload: UnsafeRawBufferPointer) -> SegmentHeader? {
        guard payload.count == SegmentHeader.payloadSize else { return nil }
        var r = ByteReader(payload)
        guard let sequence = r.read(UInt64.self), let reset = r.read(UInt8.self), reset <= 1,
            let term = r.read(UInt64.self), let vote = r.read(UInt64.self), let commit = r.read(UInt64.self),
            let snapshotIndex = r.read(UInt64.self), let snapshotTerm = r.read(UInt64.self),
            let lastIndex = r.read(UInt64.self), let lastTerm = r.read(UInt64.self)
        else { return nil }
        return SegmentHeader(
            sequence: sequence, reset: reset == 1, hardState: HardState(term: term, vote: vote, commit: commit),
            snapshotIndex: snapshotIndex, snapshotTerm: snapshotTerm, lastIndex: lastIndex, lastTerm: lastTerm)
    }

    static func decodeHardState(_ payload: UnsafeRawBufferPointer) -> HardState? {
        guard payload.count == 24 else { return nil }
        var r = ByteReader(payload)
        guard let term = r.read(UInt64.self), let vote = r.read(UInt64.self), let commit = r.read(UInt64.self)
        else { return nil }
        return HardState(term: term, vote: vote, commit: commit)
    }

    static func decodeCompact(_ payload: UnsafeRawBufferPointer) -> (index: UInt64, term: UInt64)? {
        guard payload.count == 16 else { return nil }
        var r = ByteReader(payload)
        guard let index = r.read(UInt64.self), let term = r.read(UInt64.self) else { return nil }
        return (index, term)
    }

    /// Decodes an entries record; nil if it does not parse or its entries are not consecutive.
    static func decodeEntries(_ payload: UnsafeRawBufferPointer) -> [LogEntry]? {
        var r = ByteReader(payload)
        guard let count = r.read(UInt32.self), Int(count) <= payload.count / 21 else { return nil }
        var entries: [LogEntry] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let index = r.read(UInt64.self), let term = r.read(UInt64.self),
                let rawType = r.read(UInt8.self), let type = EntryType(rawValue: Int32(rawType)),
                let length = r.read(UInt32.self), let data = r.readBytes(Int(length))
            else { return nil }
            if let previous = entries.last, previous.index &+ 1 != index { return nil }
            entries.append(LogEntry(index: index, term: term, type: type, data: [UInt8](data)))
        }
        guard r.remaining == 0 else { return nil }
        return entries
    }
}

/// What is at one offset of a segment.
enum WALFrame {
    /// A record whose checksum matches; the next one starts at `next`.
    case record(type: WALRecordType, payload: Range<Int>, next: Int)
    /// The end of the file, exactly on a record boundary.
    case end
    /// A record that is cut short or fails its checksum: a torn write if nothing valid follows.
    case damaged(reason: String)
    /// A well-formed record that this version cannot read: never a torn write.
    case unknown(reason: String)

    /// Reads the frame at `offset` of `bytes`.
    static func read(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> WALFrame {
        let remaining = bytes.count - offset
        if remaining == 0 { return .end }
        if remaining < WALRecord.frameSize {
            return .damaged(reason: "record frame cut short: \(remaining) of \(WALRecord.frameSize) bytes")
        }
        let length = Int(loadUInt32LE(bytes, offset))
        let typeByte = bytes[offset + 4]
        let stored = loadUInt32LE(bytes, offset + 5)
        if length > WALRecord.maxPayload || length > remaining - WALRecord.frameSize {
            return .damaged(
                reason: "record length \(length) runs past the end of the file (\(remaining - WALRecord.frameSize) bytes left)")
        }
        let payloadStart = offset + WALRecord.frameSize
        var crc = CRC32()
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 5)]))
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<(payloadStart + length)]))
        if crc.value != stored {
            return .damaged(reason: "crc32 mismatch (stored \(hex(stored)), computed \(hex(crc.value)))")
        }
        guard let type = WALRecordType(rawValue: typeByte) else {
            return .unknown(reason: "unknown record type \(typeByte)")
        }
        return .record(type: type, payload: payloadStart..<(payloadStart + length), next: payloadStart + length)
    }

    /// Whether every byte from `offset` to the end is zero (a preallocated, unwritten tail).
    static func isZero(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var i = offset
        while i < bytes.count {
            if bytes[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// Whether any valid record starts after `offset`: if one does, the damage at `offset` is not
    /// a torn tail but corruption in the middle of the log.
    static func validRecordExists(in bytes: UnsafeRawBufferPointer, after offset: Int) -> Bool {
        var candidate = offset + 1
        while candidate + WALRecord.frameSize <= bytes.count {
            let typeByte = bytes[candidate + 4]
            let length = Int(loadUInt32LE(bytes, candidate))
            if WALRecordType(rawValue: typeByte) != nil, length > 0,
                length <= bytes.count - candidate - WALRecord.frameSize,
                case .record = read(bytes, at: candidate)
            {
                return true
            }
            candidate += 1
        }
        return false
    }
}

func hex(_ value: UInt32) -> String {
    "0x" + String(value, radix: 16)
}
