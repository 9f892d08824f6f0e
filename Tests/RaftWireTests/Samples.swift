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

    static let members: [Member] = [
        Member(id: 1, peerAddress: "10.0.0.1:7001", clientAddress: "10.0.0.1:7101", incarnation: 0x1234_5678_9abc),
        Member(id: max, peerAddress: "[::1]:1", clientAddress: "", learner: true, incarnation: max),
        Member(id: 3, peerAddress: "ホスト:7003"),
    ]

    static let configurations: [Configuration] = [
        Configuration(voters: [members[0], members[2]], learners: [members[1]], removedIDs: [2, 4, max]),
        Configuration(
            voters: [members[0]], outgoingVoters: [members[0], members[2]], autoLeave: true, removedIDs: []),
    ]

    static let bodies: [RaftMessage] = [
        .requestVote(RequestVoteRequest(term: 7, candidateID: 2, lastLogIndex: 41, lastLogTerm: 6)),
        .requestVote(RequestVoteRequest(term: max, candidateID: max, lastLogIndex: max, lastLogTerm: max, preVote: true)),
        .requestVote(RequestVoteRequest(term: 8, candidateID: 3, lastLogIndex: 9, lastLogTerm: 8, leadershipTransfer: true)),
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
        .appendEntriesResponse(AppendEntriesResponse(term: 5, success: true, matchIndex: 78, member: members[0])),
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
        .installSnapshot(
            InstallSnapshotRequest(
                term: 3, leaderID: 2, lastIncludedIndex: 2000, lastIncludedTerm: 3, offset: 4096, data: [1, 2, 3],
                done: true, configuration: configurations[0])),
        .installSnapshot(
            InstallSnapshotRequest(
                term: 3, leaderID: 2, lastIncludedIndex: 2000, lastIncludedTerm: 3, configuration: configurations[1])),
        .installSnapshotResponse(InstallSnapshotResponse(term: 2, lastIncludedIndex: 1000, nextOffset: 4096)),
        .installSnapshotResponse(
            InstallSnapshotResponse(term: max, lastIncludedIndex: max, nextOffset: max, done: true)),
        .timeoutNow(TimeoutNowRequest(term: 12, leaderID: 2)),
        .timeoutNow(TimeoutNowRequest(term: max, leaderID: max)),
        .timeoutNowResponse(TimeoutNowResponse(term: 13)),
        .readIndex(ReadIndexRequest(term: 14, context: 3)),
        .readIndex(ReadIndexRequest(term: max, context: max)),
        .readIndexResponse(ReadIndexResponse(term: 14, context: 3, success: true, readIndex: 99)),
        .readIndexResponse(ReadIndexResponse(term: max, context: max, success: false, readIndex: max)),
        .memberRefused(MemberRefused(removed: true, reason: "member 4 was removed from the cluster")),
        .memberRefused(MemberRefused(removed: false, expectedIncarnation: max, reason: "données perdues")),
    ]

    static let envelopes: [Envelope] =
        bodies.enumerated().map { i, body in
            Envelope(clusterID: "prod-east", fromID: 1, toID: 2, id: UInt64(i) + 1, body: body)
        } + [
            Envelope(clusterID: "", fromID: 0, toID: 0, id: 0, body: nil),
            Envelope(clusterID: "クラスタ-ü", fromID: max, toID: max, id: max, body: nil),
            Envelope(clusterID: "c", fromID: 3, toID: 1, id: 9, body: bodies[0]),
            Envelope(clusterID: "c", fromID: 3, toID: 1, id: 10, fromIncarnation: max, body: bodies[1]),
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
        ClientRequest(requestID: 11, operation: .memberList),
        ClientRequest(requestID: 12, operation: .memberAdd(members[1])),
        ClientRequest(requestID: 13, operation: .memberAdd(Member(id: 5, peerAddress: "h:1"))),
        ClientRequest(requestID: 14, operation: .memberPromote(id: 5)),
        ClientRequest(requestID: 15, operation: .memberRemove(id: max)),
        ClientRequest(requestID: 16, operation: .memberReplace(oldID: 3, newID: 6)),
        ClientRequest(requestID: 17, operation: .transferLeader(id: 2)),
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
            ClientResponse(
                requestID: 24, status: .ok, leaderID: 1, index: 40, members: configurations[0].members,
                configuration: configurations[0]),
            ClientResponse(requestID: 25, status: .ok, members: members, configuration: configurations[1]),
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
