/// One key-value operation (`raft.kv.ClientRequest` `op` oneof).
public enum KVOperation: Sendable, Hashable {
    case put(key: [UInt8], value: [UInt8])
    /// A linearizable read; with `serializable`, a possibly stale read of the receiving
    /// member's own state.
    case get(key: [UInt8], serializable: Bool = false)
    case delete(key: [UInt8])
    /// With `expected == nil` the key must be absent (`expect_exists = false`);
    /// otherwise it must hold exactly `expected`.
    case compareAndSwap(key: [UInt8], expected: [UInt8]?, value: [UInt8])
    case status
    /// Membership operations (§6), answered by the leader.
    case memberList
    /// With `member.learner`, adds a learner.
    case memberAdd(Member)
    case memberPromote(id: UInt64)
    case memberRemove(id: UInt64)
    /// One joint change: learner `newID` becomes a voter, `oldID` leaves.
    case memberReplace(oldID: UInt64, newID: UInt64)
    /// Hand leadership over to voter `id` (Raft thesis §3.10).
    case transferLeader(id: UInt64)

    /// Writes go through the log and carry `clientID` + `sequence`.
    public var isWrite: Bool {
        switch self {
        case .put, .delete, .compareAndSwap: true
        case .get, .status, .memberList, .memberAdd, .memberPromote, .memberRemove, .memberReplace, .transferLeader: false
        }
    }
}

/// A client's request on the client port (`raft.kv.ClientRequest`).
public struct ClientRequest: Sendable, Hashable {
    public var requestID: UInt64
    /// With `sequence`, makes a retried write apply exactly once.
    public var clientID: UInt64
    public var sequence: UInt64
    /// Nil only when decoding bytes that carry no operation (answered ERROR).
    public var operation: KVOperation?

    public init(requestID: UInt64, clientID: UInt64 = 0, sequence: UInt64 = 0, operation: KVOperation?) {
        self.requestID = requestID
        self.clientID = clientID
        self.sequence = sequence
        self.operation = operation
    }
}
