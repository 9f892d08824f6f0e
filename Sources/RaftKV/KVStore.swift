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
    private(set) var pairs = KVPairs()
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

    /// Forgets every pair and session (the state is about to be replaced by a snapshot).
    func discardState() {
        pairs = KVPairs()
        sessions = [:]
    }

    /// A point-in-time view for a snapshot (§7): O(1) on the loop; later writes copy the shards
    /// they touch instead of changing the view.
    public func snapshotView() -> KVSnapshotView {
        KVSnapshotView(pairs: pairs, sessions: sessions, index: appliedIndex)
    }

    /// The whole state as one zlib stream, as the node stores and sends it (small states and
    /// tests; the node streams `snapshotView()` instead).
    public func snapshotBytes() throws -> [UInt8] {
        let deflater = try ZlibDeflater(level: 1)
        var compressed: [UInt8] = []
        try snapshotView().write { try deflater.compress($0, into: &compressed) }
        try deflater.finish(into: &compressed)
        return compressed
    }

    /// Replaces the state by the one `reader` rebuilt (it must have finished), as of log index
    /// `index`.
    public func restore(index: UInt64, from reader: KVSnapshotReader) {
        guard let state = reader.state else { preconditionFailure("restore from an unfinished snapshot reader") }
        pairs = state.pairs
        sessions = state.sessions
        appliedIndex = index
        snapshotRawBytes = reader.rawBytes
    }

    /// Replaces the state by the one the zlib stream `snapshot` holds (what `snapshotBytes()`
    /// returns), as of log index `index`. The snapshot is read completely before anything
    /// changes: a corrupt one throws and leaves the store as it was.
    public func restore(index: UInt64, snapshot: [UInt8]) throws {
        let reader = KVSnapshotReader()
        let raw: [UInt8]
        do {
            raw = try ZlibInflater.decompress(snapshot)
        } catch {
            throw KVSnapshotError.compression(error)
        }
        try raw.withUnsafeBytes { try reader.consume($0) }
        try reader.finish()
        restore(index: index, from: reader)
    }
}
