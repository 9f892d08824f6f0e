/// One peer RPC, request or response: the `body` oneof of `raft.Envelope`.
public enum RaftMessage: Sendable, Hashable {
    case requestVote(RequestVoteRequest)
    case requestVoteResponse(RequestVoteResponse)
    case appendEntries(AppendEntriesRequest)
    case appendEntriesResponse(AppendEntriesResponse)
    case installSnapshot(InstallSnapshotRequest)
    case installSnapshotResponse(InstallSnapshotResponse)
    case timeoutNow(TimeoutNowRequest)
    case timeoutNowResponse(TimeoutNowResponse)
    case readIndex(ReadIndexRequest)
    case readIndexResponse(ReadIndexResponse)
    /// Not an RPC of the core: the transport's answer to an envelope from a member it refuses.
    case memberRefused(MemberRefused)

    /// The sender's term, which every Raft RPC carries (Figure 2 "Rules for
    /// Servers": a higher term seen in any RPC makes the receiver a follower).
    public var term: UInt64 {
        switch self {
        case .requestVote(let m): m.term
        case .requestVoteResponse(let m): m.term
        case .appendEntries(let m): m.term
        case .appendEntriesResponse(let m): m.term
        case .installSnapshot(let m): m.term
        case .installSnapshotResponse(let m): m.term
        case .timeoutNow(let m): m.term
        case .timeoutNowResponse(let m): m.term
        case .readIndex(let m): m.term
        case .readIndexResponse(let m): m.term
        case .memberRefused: 0
        }
    }

    /// True for the request kinds, false for responses and refusals.
    public var isRequest: Bool {
        switch self {
        case .requestVote, .appendEntries, .installSnapshot, .timeoutNow, .readIndex: true
        case .requestVoteResponse, .appendEntriesResponse, .installSnapshotResponse, .timeoutNowResponse,
            .readIndexResponse, .memberRefused:
            false
        }
    }
}

/// The unit on the peer port (`raft.Envelope`): one RPC with its routing.
public struct Envelope: Sendable, Hashable {
    /// Envelopes of another cluster are rejected.
    public var clusterID: String
    public var fromID: UInt64
    public var toID: UInt64
    /// Request id, chosen by the requester, echoed by the response.
    public var id: UInt64
    /// The sender's incarnation (`Member.incarnation`); 0 from senders that predate them.
    public var fromIncarnation: UInt64
    /// Nil only when decoding bytes that carry no body (which is malformed).
    public var body: RaftMessage?

    public init(clusterID: String, fromID: UInt64, toID: UInt64, id: UInt64, fromIncarnation: UInt64 = 0, body: RaftMessage?) {
        self.clusterID = clusterID
        self.fromID = fromID
        self.toID = toID
        self.id = id
        self.fromIncarnation = fromIncarnation
        self.body = body
    }
}
