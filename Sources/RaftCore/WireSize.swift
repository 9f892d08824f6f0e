import RaftMessages

/// Sizes of the protobuf encodings of `raft.proto` messages, computed without encoding. The core
/// uses them for `Config.maxSizePerMsg`; the simulated network uses them as its byte counters.
/// They equal libprotobuf-c's proto3 output (default values omitted, one-byte tags).
enum ProtoSize {
    static func varint(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    static func uint(_ value: UInt64) -> Int {
        value == 0 ? 0 : 1 + varint(value)
    }

    static func bool(_ value: Bool) -> Int {
        value ? 2 : 0
    }

    static func bytes(_ count: Int) -> Int {
        count == 0 ? 0 : 1 + varint(UInt64(count)) + count
    }

    static func string(_ text: String) -> Int {
        bytes(text.utf8.count)
    }

    /// A packed repeated `uint64` field (proto3's default for repeated scalars).
    static func packed(_ values: [UInt64]) -> Int {
        values.isEmpty ? 0 : bytes(values.reduce(0) { $0 + varint($1) })
    }

    /// An embedded (or repeated) message field: always present.
    static func embedded(_ size: Int) -> Int {
        1 + varint(UInt64(size)) + size
    }
}

extension LogEntry {
    /// Bytes of this entry's protobuf encoding (`raft.LogEntry`).
    public var wireSize: Int {
        ProtoSize.uint(index) + ProtoSize.uint(term) + ProtoSize.uint(UInt64(type.rawValue))
            + ProtoSize.bytes(data.count)
    }
}

extension Member {
    /// Bytes of this record's protobuf encoding (`raft.Member`).
    public var wireSize: Int {
        ProtoSize.uint(id) + ProtoSize.string(peerAddress) + ProtoSize.string(clientAddress) + ProtoSize.bool(learner)
            + ProtoSize.uint(incarnation)
    }
}

extension Configuration {
    /// Bytes of this configuration's protobuf encoding (`raft.Configuration`).
    public var wireSize: Int {
        (voters + learners + outgoingVoters).reduce(0) { $0 + ProtoSize.embedded($1.wireSize) }
            + ProtoSize.bool(autoLeave) + ProtoSize.packed(removedIDs)
    }
}

extension HardState {
    /// Bytes of a protobuf-style encoding of the three fields.
    public var wireSize: Int {
        ProtoSize.uint(term) + ProtoSize.uint(vote) + ProtoSize.uint(commit)
    }
}

extension RaftMessage {
    /// Bytes of the protobuf encoding of this message body.
    public var wireSize: Int {
        switch self {
        case .requestVote(let m):
            return ProtoSize.uint(m.term) + ProtoSize.uint(m.candidateID) + ProtoSize.uint(m.lastLogIndex)
                + ProtoSize.uint(m.lastLogTerm) + ProtoSize.bool(m.preVote) + ProtoSize.bool(m.leadershipTransfer)
        case .requestVoteResponse(let m):
            return ProtoSize.uint(m.term) + ProtoSize.bool(m.voteGranted) + ProtoSize.bool(m.preVote)
        case .appendEntries(let m):
            var size = ProtoSize.uint(m.term) + ProtoSize.uint(m.leaderID) + ProtoSize.uint(m.prevLogIndex)
                + ProtoSize.uint(m.prevLogTerm) + ProtoSize.uint(m.leaderCommit) + ProtoSize.uint(m.readRound)
            for entry in m.entries { size += ProtoSize.embedded(entry.wireSize) }
            return size
        case .appendEntriesResponse(let m):
            return ProtoSize.uint(m.term) + ProtoSize.bool(m.success) + ProtoSize.uint(m.matchIndex)
                + ProtoSize.uint(m.conflictIndex) + ProtoSize.uint(m.conflictTerm) + ProtoSize.uint(m.prevLogIndex)
                + ProtoSize.uint(m.readRound) + (m.member.map { ProtoSize.embedded($0.wireSize) } ?? 0)
        case .installSnapshot(let m):
            return ProtoSize.uint(m.term) + ProtoSize.uint(m.leaderID) + ProtoSize.uint(m.lastIncludedIndex)
                + ProtoSize.uint(m.lastIncludedTerm) + ProtoSize.uint(m.offset) + ProtoSize.bytes(m.data.count)
                + ProtoSize.bool(m.done)
                + (m.configuration == Configuration() ? 0 : ProtoSize.embedded(m.configuration.wireSize))
        case .installSnapshotResponse(let m):
            return ProtoSize.uint(m.term) + ProtoSize.uint(m.lastIncludedIndex) + ProtoSize.uint(m.nextOffset)
                + ProtoSize.bool(m.done)
        case .timeoutNow(let m):
            return ProtoSize.uint(m.term) + ProtoSize.uint(m.leaderID)
        case .timeoutNowResponse(let m):
            return ProtoSize.uint(m.term)
        case .readIndex(let m):
            return ProtoSize.uint(m.term) + ProtoSize.uint(m.context)
        case .readIndexResponse(let m):
            return ProtoSize.uint(m.term) + ProtoSize.uint(m.context) + ProtoSize.bool(m.success) + ProtoSize.uint(m.readIndex)
        case .memberRefused(let m):
            return ProtoSize.bool(m.removed) + ProtoSize.uint(m.expectedIncarnation) + ProtoSize.string(m.reason)
        }
    }
}

extension Message {
    /// Bytes of the `raft.Envelope` carrying this message (empty cluster id, a small request id).
    public var wireSize: Int {
        ProtoSize.uint(from) + ProtoSize.uint(to) + 2 + ProtoSize.embedded(body.wireSize)
    }
}
