import CRaftProto
import RaftMessages

extension LogEntry {
    fileprivate func fill(_ c: UnsafeMutablePointer<Raft__LogEntry>, in arena: ProtoArena) throws {
        raft__log_entry__init(c)
        c.pointee.index = index
        c.pointee.term = term
        c.pointee.type = Raft__EntryType(rawValue: numericCast(type.rawValue))
        c.pointee.data = try arena.binary(data)
    }

    fileprivate init(c: UnsafePointer<Raft__LogEntry>) throws {
        self.init(
            index: c.pointee.index, term: c.pointee.term,
            type: try decodeEnum(EntryType.self, c.pointee.type.rawValue, field: "raft.LogEntry.type"),
            data: [UInt8](c.pointee.data))
    }
}

extension RaftMessage {
    /// Points the envelope's oneof at a freshly built body struct.
    fileprivate func attach(to envelope: UnsafeMutablePointer<Raft__Envelope>, in arena: ProtoArena) throws {
        switch self {
        case .requestVote(let m):
            let c = try arena.message(Raft__RequestVoteRequest.self, raft__request_vote_request__init)
            c.pointee.term = m.term
            c.pointee.candidate_id = m.candidateID
            c.pointee.last_log_index = m.lastLogIndex
            c.pointee.last_log_term = m.lastLogTerm
            c.pointee.pre_vote = m.preVote ? 1 : 0
            c.pointee.leadership_transfer = m.leadershipTransfer ? 1 : 0
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_REQUEST_VOTE
            envelope.pointee.request_vote = c
        case .requestVoteResponse(let m):
            let c = try arena.message(Raft__RequestVoteResponse.self, raft__request_vote_response__init)
            c.pointee.term = m.term
            c.pointee.vote_granted = m.voteGranted ? 1 : 0
            c.pointee.pre_vote = m.preVote ? 1 : 0
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_REQUEST_VOTE_RESPONSE
            envelope.pointee.request_vote_response = c
        case .appendEntries(let m):
            let c = try arena.message(Raft__AppendEntriesRequest.self, raft__append_entries_request__init)
            c.pointee.term = m.term
            c.pointee.leader_id = m.leaderID
            c.pointee.prev_log_index = m.prevLogIndex
            c.pointee.prev_log_term = m.prevLogTerm
            c.pointee.leader_commit = m.leaderCommit
            c.pointee.read_round = m.readRound
            if !m.entries.isEmpty {
                let structs = try arena.allocate(Raft__LogEntry.self, count: m.entries.count)
                let pointers = try arena.allocate(
                    UnsafeMutablePointer<Raft__LogEntry>?.self, count: m.entries.count)
                for (offset, entry) in m.entries.enumerated() {
                    try entry.fill(structs + offset, in: arena)
                    (pointers + offset).initialize(to: structs + offset)
                }
                c.pointee.n_entries = m.entries.count
                c.pointee.entries = pointers
            }
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_APPEND_ENTRIES
            envelope.pointee.append_entries = c
        case .appendEntriesResponse(let m):
            let c = try arena.message(Raft__AppendEntriesResponse.self, raft__append_entries_response__init)
            c.pointee.term = m.term
            c.pointee.success = m.success ? 1 : 0
            c.pointee.match_index = m.matchIndex
            c.pointee.conflict_index = m.conflictIndex
            c.pointee.conflict_term = m.conflictTerm
            c.pointee.prev_log_index = m.prevLogIndex
            c.pointee.read_round = m.readRound
            if let member = m.member { c.pointee.member = try member.cMessage(in: arena) }
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_APPEND_ENTRIES_RESPONSE
            envelope.pointee.append_entries_response = c
        case .installSnapshot(let m):
            let c = try arena.message(Raft__InstallSnapshotRequest.self, raft__install_snapshot_request__init)
            c.pointee.term = m.term
            c.pointee.leader_id = m.leaderID
            c.pointee.last_included_index = m.lastIncludedIndex
            c.pointee.last_included_term = m.lastIncludedTerm
            c.pointee.offset = m.offset
            c.pointee.data = try arena.binary(m.data)
            c.pointee.done = m.done ? 1 : 0
            if m.configuration != Configuration() {
                c.pointee.configuration = try m.configuration.cMessage(in: arena)
            }
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_INSTALL_SNAPSHOT
            envelope.pointee.install_snapshot = c
        case .installSnapshotResponse(let m):
            let c = try arena.message(
                Raft__InstallSnapshotResponse.self, raft__install_snapshot_response__init)
            c.pointee.term = m.term
            c.pointee.last_included_index = m.lastIncludedIndex
            c.pointee.next_offset = m.nextOffset
            c.pointee.done = m.done ? 1 : 0
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_INSTALL_SNAPSHOT_RESPONSE
            envelope.pointee.install_snapshot_response = c
        case .timeoutNow(let m):
            let c = try arena.message(Raft__TimeoutNowRequest.self, raft__timeout_now_request__init)
            c.pointee.term = m.term
            c.pointee.leader_id = m.leaderID
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_TIMEOUT_NOW
            envelope.pointee.timeout_now = c
        case .timeoutNowResponse(let m):
            let c = try arena.message(Raft__TimeoutNowResponse.self, raft__timeout_now_response__init)
            c.pointee.term = m.term
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_TIMEOUT_NOW_RESPONSE
            envelope.pointee.timeout_now_response = c
        case .readIndex(let m):
            let c = try arena.message(Raft__ReadIndexRequest.self, raft__read_index_request__init)
            c.pointee.term = m.term
            c.pointee.context = m.context
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_READ_INDEX
            envelope.pointee.read_index = c
        case .readIndexResponse(let m):
            let c = try arena.message(Raft__ReadIndexResponse.self, raft__read_index_response__init)
            c.pointee.term = m.term
            c.pointee.context = m.context
            c.pointee.success = m.success ? 1 : 0
            c.pointee.read_index = m.readIndex
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_READ_INDEX_RESPONSE
            envelope.pointee.read_index_response = c
        case .memberRefused(let m):
            let c = try arena.message(Raft__MemberRefused.self, raft__member_refused__init)
            c.pointee.removed = m.removed ? 1 : 0
            c.pointee.expected_incarnation = m.expectedIncarnation
            c.pointee.reason = try arena.cString(m.reason)
            envelope.pointee.body_case = RAFT__ENVELOPE__BODY_MEMBER_REFUSED
            envelope.pointee.member_refused = c
        }
    }

    /// The body an unpacked envelope carries; nil when the oneof is unset.
    fileprivate init?(envelope c: UnsafePointer<Raft__Envelope>) throws {
        let e = c.pointee
        switch e.body_case {
        case RAFT__ENVELOPE__BODY_REQUEST_VOTE:
            let m = e.request_vote.pointee
            self = .requestVote(
                RequestVoteRequest(
                    term: m.term, candidateID: m.candidate_id, lastLogIndex: m.last_log_index,
                    lastLogTerm: m.last_log_term, preVote: m.pre_vote != 0, leadershipTransfer: m.leadership_transfer != 0))
        case RAFT__ENVELOPE__BODY_REQUEST_VOTE_RESPONSE:
            let m = e.request_vote_response.pointee
            self = .requestVoteResponse(
                RequestVoteResponse(term: m.term, voteGranted: m.vote_granted != 0, preVote: m.pre_vote != 0))
        case RAFT__ENVELOPE__BODY_APPEND_ENTRIES:
            let m = e.append_entries.pointee
            var entries: [LogEntry] = []
            entries.reserveCapacity(m.n_entries)
            for i in 0..<m.n_entries {
                entries.append(try LogEntry(c: m.entries[i]!))
            }
            self = .appendEntries(
                AppendEntriesRequest(
                    term: m.term, leaderID: m.leader_id, prevLogIndex: m.prev_log_index,
                    prevLogTerm: m.prev_log_term, entries: entries, leaderCommit: m.leader_commit,
                    readRound: m.read_round))
        case RAFT__ENVELOPE__BODY_APPEND_ENTRIES_RESPONSE:
            let m = e.append_entries_response.pointee
            self = .appendEntriesResponse(
                AppendEntriesResponse(
                    term: m.term, success: m.success != 0, matchIndex: m.match_index,
                    conflictIndex: m.conflict_index, conflictTerm: m.conflict_term,
                    prevLogIndex: m.prev_log_index, readRound: m.read_round, member: m.member.map { Member(c: $0) }))
        case RAFT__ENVELOPE__BODY_INSTALL_SNAPSHOT:
            let m = e.install_snapshot.pointee
            self = .installSnapshot(
                InstallSnapshotRequest(
                    term: m.term, leaderID: m.leader_id, lastIncludedIndex: m.last_included_index,
                    lastIncludedTerm: m.last_included_term, offset: m.offset, data: [UInt8](m.data),
                    done: m.done != 0, configuration: m.configuration.map { Configuration(c: $0) } ?? Configuration()))
        case RAFT__ENVELOPE__BODY_INSTALL_SNAPSHOT_RESPONSE:
            let m = e.install_snapshot_response.pointee
            self = .installSnapshotResponse(
                InstallSnapshotResponse(
                    term: m.term, lastIncludedIndex: m.last_included_index, nextOffset: m.next_offset,
                    done: m.done != 0))
        case RAFT__ENVELOPE__BODY_TIMEOUT_NOW:
            let m = e.timeout_now.pointee
            self = .timeoutNow(TimeoutNowRequest(term: m.term, leaderID: m.leader_id))
        case RAFT__ENVELOPE__BODY_TIMEOUT_NOW_RESPONSE:
            self = .timeoutNowResponse(TimeoutNowResponse(term: e.timeout_now_response.pointee.term))
        case RAFT__ENVELOPE__BODY_READ_INDEX:
            let m = e.read_index.pointee
            self = .readIndex(ReadIndexRequest(term: m.term, context: m.context))
        case RAFT__ENVELOPE__BODY_READ_INDEX_RESPONSE:
            let m = e.read_index_response.pointee
            self = .readIndexResponse(
                ReadIndexResponse(term: m.term, context: m.context, success: m.success != 0, readIndex: m.read_index))
        case RAFT__ENVELOPE__BODY_MEMBER_REFUSED:
            let m = e.member_refused.pointee
            self = .memberRefused(
                MemberRefused(removed: m.removed != 0, expectedIncarnation: m.expected_incarnation, reason: String(protobufC: m.reason)))
        default:
            return nil
        }
    }
}

extension Envelope: ProtobufCConvertible {
    static let protoName = "raft.Envelope"

    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Envelope> {
        let c = try arena.message(Raft__Envelope.self, raft__envelope__init)
        c.pointee.cluster_id = try arena.cString(clusterID)
        c.pointee.from_id = fromID
        c.pointee.to_id = toID
        c.pointee.id = id
        c.pointee.from_incarnation = fromIncarnation
        try body?.attach(to: c, in: arena)
        return c
    }

    init(cMessage c: UnsafePointer<Raft__Envelope>) throws {
        self.init(
            clusterID: String(protobufC: c.pointee.cluster_id), fromID: c.pointee.from_id,
            toID: c.pointee.to_id, id: c.pointee.id, fromIncarnation: c.pointee.from_incarnation,
            body: try RaftMessage(envelope: c))
    }

    static func packedSize(_ message: UnsafePointer<Raft__Envelope>) -> Int {
        raft__envelope__get_packed_size(message)
    }

    static func pack(_ message: UnsafePointer<Raft__Envelope>, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        raft__envelope__pack(message, out)
    }

    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<Raft__Envelope>? {
        raft__envelope__unpack(allocator, count, bytes)
    }
}
