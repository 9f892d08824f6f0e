import RaftMessages

/// Messages that exercise every field, every oneof case and the edge values
/// (zero, max UInt64, empty and non-ASCII strings, empty payloads).
enum Samples {
    static let max = UInt64.max

    static func entries(count: Int, payload: Int, firstIndex: UInt64 = 1) -> [LogEntry] {
        (0..<count).map { i in
            LogEntry(
                index: firstIndex + UInt64(i), term: 3 + UInt64(i / 100),
                type: EntryType.allCases[i % EntryType.allCases.count],
                data: (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
        }
    }

    static let bodies: [RaftMessage] = [
        .requestVote(RequestVoteRequest(term: 7, candidateID: 2, lastLogIndex: 41, lastLogTerm: 6)),
        .requestVote(RequestVoteRequest(term: max, candidateID: max, lastLogIndex: max, lastLogTerm: max, preVote: true)),
        .requestVoteResponse(RequestVoteResponse(term: 7, voteGranted: true)),
        .requestVoteResponse(RequestVoteResponse(term: max, voteGranted: false, preVote: true)),
        .appendEntries(AppendEntriesRequest(term: 4, leaderID: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0)),
        .appendEntries(
            AppendEntriesRequest(
                term: 9, leaderID: 3, prevLogIndex: 100, prevLogTerm: 8, entries: entries(count: 3, payload: 64),
                leaderCommit: 99)),
        .appendEntries(
            AppendEntriesRequest(
                term: max, leaderID: max, prevLogIndex: max, prevLogTerm: max,
                entries: [LogEntry(index: max, term: max, type: .noop), LogEntry(index: 1, term: 1, data: [0])],
                leaderCommit: max)),
        .appendEntriesResponse(AppendEntriesResponse(term: 5, success: true, matchIndex: 77)),
        .appendEntriesResponse(
            AppendEntriesResponse(
                term: max, success: false, matchIndex: max, conflictIndex: max, conflictTerm: max, prevLogIndex: max)),
        .installSnapshot(
            InstallSnapshotRequest(
                term: 2, leaderID: 1, lastIncludedIndex: 1000, lastIncludedTerm: 2, offset: 0,
                data: [0x78, 0x9c, 0x01, 0x00], done: false)),
        .installSnapshot(
            InstallSnapshotRequest(
                term: max, leaderID: max, lastIncludedIndex: max, lastIncludedTerm: max, offset: max, data: [],
                done: true)),
        .installSnapshotResponse(InstallSnapshotResponse(term: 2, lastIncludedIndex: 1000, nextOffset: 4096)),
        .installSnapshotResponse(
            InstallSnapshotResponse(term: max, lastIncludedIndex: max, nextOffset: max, done: true)),
    ]

    static let envelopes: [Envelope] =
        bodies.enumerated().map { i, body in
            Envelope(clusterID: "prod-east", fromID: 1, toID: 2, id: UInt64(i) + 1, body: body)
        } + [
            Envelope(clusterID: "", fromID: 0, toID: 0, id: 0, body: nil),
            Envelope(clusterID: "クラスタ-ü", fromID: max, toID: max, id: max, body: nil),
            Envelope(clusterID: "c", fromID: 3, toID: 1, id: 9, body: bodies[0]),
        ]

    static let requests: [ClientRequest] = [
        ClientRequest(requestID: 1, clientID: 10, sequence: 1, operation: .put(key: Array("k".utf8), value: Array("v".utf8))),
        ClientRequest(requestID: 2, clientID: 10, sequence: 2, operation: .put(key: [], value: [])),
        ClientRequest(requestID: 3, operation: .get(key: [0, 255, 1])),
        ClientRequest(requestID: 9, operation: .get(key: Array("k".utf8), serializable: true)),
        ClientRequest(requestID: 4, clientID: 10, sequence: 3, operation: .delete(key: Array("gone".utf8))),
        ClientRequest(
            requestID: 5, clientID: max, sequence: max,
            operation: .compareAndSwap(key: [1], expected: [2, 3], value: [4])),
        ClientRequest(requestID: 6, clientID: 1, sequence: 1, operation: .compareAndSwap(key: [1], expected: nil, value: [4])),
        ClientRequest(requestID: 7, clientID: 1, sequence: 1, operation: .compareAndSwap(key: [1], expected: [], value: [])),
        ClientRequest(requestID: max, operation: .status),
        ClientRequest(requestID: 8, operation: nil),
    ]

    static let responses: [ClientResponse] =
        KVStatus.allCases.enumerated().map { i, status in
            ClientResponse(requestID: UInt64(i) + 1, status: status)
        } + [
            ClientResponse(requestID: 20, status: .notLeader, leaderID: 3, leaderAddress: "127.0.0.1:7003"),
            ClientResponse(requestID: 21, status: .ok, value: Array(repeating: 0xAB, count: 300), index: 12),
            ClientResponse(requestID: 22, status: .error, error: "unknown operation: ü"),
            ClientResponse(
                requestID: max, status: .ok, leaderID: max, leaderAddress: "[::1]:1", value: [0], error: "",
                index: max,
                node: NodeStatus(
                    id: 1, role: "leader", term: 9, leaderID: 1, commitIndex: 100, appliedIndex: 99,
                    lastLogIndex: 101, snapshotIndex: 50)),
            ClientResponse(
                requestID: 23, status: .ok,
                node: NodeStatus(
                    id: max, role: "", term: max, leaderID: max, commitIndex: max, appliedIndex: max,
                    lastLogIndex: max, snapshotIndex: max)),
        ]

    static let snapshotRecords: [KVSnapshotRecord] = [
        .pair(key: Array("k".utf8), value: Array("v".utf8)),
        .pair(key: [], value: []),
        .pair(key: [0, 255], value: Array(repeating: 7, count: 1000)),
        .session(KVSession(clientID: 1, sequence: 2, status: .ok, index: 3)),
        .session(KVSession(clientID: max, sequence: max, status: .casFailed, index: max)),
        .trailer(records: 0, crc32: 0),
        .trailer(records: max, crc32: .max),
    ]
}
