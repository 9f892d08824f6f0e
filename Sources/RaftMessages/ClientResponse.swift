/// Outcome of a client request (`raft.kv.Status`).
public enum KVStatus: Int32, Sendable, Hashable, CaseIterable {
    case ok = 0
    case notFound = 1
    case notLeader = 2
    case casFailed = 3
    case timeout = 4
    case error = 5
}

/// What one node reports about itself (`raft.kv.NodeStatus`).
public struct NodeStatus: Sendable, Hashable {
    public var id: UInt64
    /// "follower", "candidate", "pre-candidate" or "leader".
    public var role: String
    public var term: UInt64
    public var leaderID: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastLogIndex: UInt64
    public var snapshotIndex: UInt64

    public init(
        id: UInt64, role: String, term: UInt64, leaderID: UInt64, commitIndex: UInt64,
        appliedIndex: UInt64, lastLogIndex: UInt64, snapshotIndex: UInt64
    ) {
        self.id = id
        self.role = role
        self.term = term
        self.leaderID = leaderID
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastLogIndex = lastLogIndex
        self.snapshotIndex = snapshotIndex
    }
}

/// The answer to one request (`raft.kv.ClientResponse`).
public struct ClientResponse: Sendable, Hashable {
    public var requestID: UInt64
    public var status: KVStatus
    /// With `.notLeader`: the leader's id and client address when known.
    public var leaderID: UInt64
    public var leaderAddress: String
    public var value: [UInt8]
    /// With `.error`: a one-line reason.
    public var error: String
    /// Writes: the log index the write committed at.
    public var index: UInt64
    public var node: NodeStatus?
    /// Membership operations: every member, sorted by id.
    public var members: [Member]
    /// Membership operations: the configuration.
    public var configuration: Configuration?

    public init(
        requestID: UInt64, status: KVStatus, leaderID: UInt64 = 0, leaderAddress: String = "",
        value: [UInt8] = [], error: String = "", index: UInt64 = 0, node: NodeStatus? = nil, members: [Member] = [],
        configuration: Configuration? = nil
    ) {
        self.requestID = requestID
        self.status = status
        self.leaderID = leaderID
        self.leaderAddress = leaderAddress
        self.value = value
        self.error = error
        self.index = index
        self.node = node
        self.members = members
        self.configuration = configuration
    }
}
