import NIOCore
import RaftMessages
import RaftWire
import RaftZlib

/// The replicated key-value state machine: put, get, delete and compare-and-swap over byte
/// strings, applied in log order on every member.
///
/// Writes are exactly-once (§8 of the extended paper, "Client interaction"): each write carries
/// the client's id and a sequence number; the store remembers per client the highest sequence it
/// applied and that write's outcome, answers a retry of it from memory instead of applying it
/// again, and refuses sequences older than that. The session table is part of the snapshot, so a
/// member restored from one still recognizes retries.
///
/// Not thread-safe: the node's apply loop owns it.
public final class KVStore {
    private(set) var pairs: [[UInt8]: [UInt8]] = [:]
    private(set) var sessions: [UInt64: KVSession] = [:]
    private let codec = WireCodec()

    /// The index of the last log entry applied (or restored from a snapshot).
    public private(set) var appliedIndex: UInt64 = 0

    /// Uncompressed size of the last snapshot written or restored.
    public private(set) var snapshotRawBytes: Int?

    public init() {}

    /// Number of keys.
    public var count: Int { pairs.count }

    /// Number of clients whose last write is remembered.
    public var sessionCount: Int { sessions.count }

    /// The current value of `key`; linearizable only when the caller knows this member has
    /// applied everything committed before the read began.
    public func get(_ key: [UInt8]) -> [UInt8]? {
        pairs[key]
    }

    /// The log entry payload for a write: the request itself, without its connection-local id.
    public static func command(for request: ClientRequest) throws -> [UInt8] {
        var stored = request
        stored.requestID = 0
        return try stored.serializedBytes()
    }

    /// Applies one committed entry and returns the answer for the client that proposed it
    /// (`requestID` left 0 for the caller to fill in), or nil for entries that carry no command
    /// (no-ops, configuration). Every member computes the same answer: nothing here depends on
    /// anything but the entry and the state before it.
    @discardableResult
    public func apply(_ entry: LogEntry) -> ClientResponse? {
        precondition(entry.index > appliedIndex, "entry \(entry.index) applied after \(appliedIndex)")
        appliedIndex = entry.index
        guard entry.type == .normal else { return nil }
        let request: ClientRequest
        do {
            request = try entry.data.withUnsafeBytes { try codec.decodeClientRequest(from: $0) }
        } catch {
            return failure("entry \(entry.index) does not hold a client request: \(error)", index: entry.index)
        }
        guard let operation = request.operation else {
            return failure("entry \(entry.index) holds no operation", index: entry.index)
        }
        switch operation {
        case .get(let key, _):
            // A read that went through the log (linearizable: it sees every write committed
            // before it). It changes nothing and needs no session.
            guard let value = pairs[key] else { return ClientResponse(requestID: 0, status: .notFound, index: entry.index) }
            return ClientResponse(requestID: 0, status: .ok, value: value, index: entry.index)
        case .status, .memberList, .memberAdd, .memberPromote, .memberRemove, .memberReplace, .transferLeader:
            return failure(
                "entry \(entry.index) holds a request that is not a key-value command (it is answered outside the log)",
                index: entry.index)
        case .put, .delete, .compareAndSwap:
            break
        }
        if request.clientID != 0, let session = sessions[request.clientID], request.sequence <= session.sequence {
            if request.sequence == session.sequence {
                // A retry of the last write: answer as the first time, change nothing.
                return ClientResponse(requestID: 0, status: session.status, index: session.index)
            }
            return failure(
                "client \(request.clientID) sequence \(request.sequence) is older than its last write \(session.sequence)",
                index: entry.index)
        }
        let status = execute(operation)
        if request.clientID != 0 {
            sessions[request.clientID] = KVSession(
                clientID: request.clientID, sequence: request.sequence, status: status, index: entry.index)
        }
        return ClientResponse(requestID: 0, status: status, index: entry.index)
    }

    private func execute(_ operation: KVOperation) -> KVStatus {
        switch operation {
        case .put(let key, let value):
            pairs[key] = value
            return .ok
        case .delete(let key):
            pairs[key] = nil
            return .ok
        case .compareAndSwap(let key, let expected, let value):
            guard pairs[key] == expected else { return .casFailed }
            pairs[key] = value
            return .ok
        case .get, .status, .memberList, .memberAdd, .memberPromote, .memberRemove, .memberReplace, .transferLeader:
            preconditionFailure("only writes reach execute")
        }
    }

    private func failure(_ message: String, index: UInt64) -> ClientResponse {
        ClientResponse(requestID: 0, status: .error, error: message, index: index)
    }

    // MARK: Snapshots

    /// Writes the whole state as one zlib stream of framed `SnapshotRecord`s (kv.proto) ending
    /// with a trailer that counts the records and checksums them (CRC-32), handing compressed
    /// bytes to `sink` in pieces of roughly `chunkBytes`: the state is never serialized whole
    /// before compressing.
    public func writeSnapshot(chunkBytes: Int = 64 * 1024, level: Int = 1, to sink: ([UInt8]) throws -> Void) throws {
        let deflater = try ZlibDeflater(level: level)
        var frames = ByteBuffer()
        var compressed: [UInt8] = []
        var crc = CRC32()
        var records: UInt64 = 0
        var rawBytes = 0
        func add(_ record: KVSnapshotRecord) throws {
            let start = frames.writerIndex
            try codec.encodeFrame(record, into: &frames)
            rawBytes += frames.writerIndex - start
            if case .trailer = record { return }
            records += 1
            frames.withUnsafeReadableBytes { all in
                crc.update(UnsafeRawBufferPointer(rebasing: all[(start - frames.readerIndex)...]))
            }
        }
        func drain(force: Bool) throws {
            if frames.readableBytes >= chunkBytes || (force && frames.readableBytes > 0) {
                try frames.withUnsafeReadableBytes { try deflater.compress($0, into: &compressed) }
                frames.clear()
            }
            if compressed.count >= chunkBytes || (force && !compressed.isEmpty) {
                try sink(compressed)
                compressed.removeAll(keepingCapacity: true)
            }
        }
        for (key, value) in pairs {
            try add(.pair(key: key, value: value))
            try drain(force: false)
        }
        for session in sessions.values {
            try add(.session(session))
            try drain(force: false)
        }
        try add(.trailer(records: records, crc32: crc.value))
        try drain(force: true)
        try deflater.finish(into: &compressed)
        try drain(force: true)
        snapshotRawBytes = rawBytes
    }

    /// The whole snapshot as one byte array (convenience for small states and tests).
    public func snapshotBytes() throws -> [UInt8] {
        var all: [UInt8] = []
        try writeSnapshot { all.append(contentsOf: $0) }
        return all
    }

    /// Replaces the state by the one a snapshot holds, as of log index `index`. The snapshot is
    /// read completely before anything changes: a corrupt one throws and leaves the store as it
    /// was.
    public func restore(index: UInt64, from reader: KVSnapshotReader) throws {
        let (restoredPairs, restoredSessions) = try reader.finish()
        pairs = restoredPairs
        sessions = restoredSessions
        appliedIndex = index
        snapshotRawBytes = reader.rawBytes
    }

    /// `restore(index:from:)` for a snapshot held in memory.
    public func restore(index: UInt64, snapshot: [UInt8]) throws {
        let reader = try KVSnapshotReader()
        try reader.consume(snapshot)
        try restore(index: index, from: reader)
    }
}
