import CRaftProto
import RaftMessages

extension Member {
    /// A `raft.Member` built in `arena`.
    func cMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Member> {
        let c = try arena.message(Raft__Member.self, raft__member__init)
        c.pointee.id = id
        c.pointee.peer_address = try arena.cString(peerAddress)
        c.pointee.client_address = try arena.cString(clientAddress)
        c.pointee.learner = learner ? 1 : 0
        c.pointee.incarnation = incarnation
        return c
    }

    init(c: UnsafePointer<Raft__Member>) {
        self.init(
            id: c.pointee.id, peerAddress: String(protobufC: c.pointee.peer_address),
            clientAddress: String(protobufC: c.pointee.client_address), learner: c.pointee.learner != 0,
            incarnation: c.pointee.incarnation)
    }
}

/// A `repeated raft.Member` field: the pointer array and its count.
func encodeMembers(
    _ members: [Member], in arena: ProtoArena
) throws -> (count: Int, pointers: UnsafeMutablePointer<UnsafeMutablePointer<Raft__Member>?>?) {
    guard !members.isEmpty else { return (0, nil) }
    let pointers = try arena.allocate(UnsafeMutablePointer<Raft__Member>?.self, count: members.count)
    for (i, member) in members.enumerated() {
        (pointers + i).initialize(to: try member.cMessage(in: arena))
    }
    return (members.count, pointers)
}

/// Reads a `repeated raft.Member` field.
func decodeMembers(_ count: Int, _ pointers: UnsafeMutablePointer<UnsafeMutablePointer<Raft__Member>?>?) -> [Member] {
    guard count > 0, let pointers else { return [] }
    return (0..<count).compactMap { i in pointers[i].map { Member(c: $0) } }
}

extension Configuration {
    /// A `raft.Configuration` built in `arena`.
    func cMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Configuration> {
        let c = try arena.message(Raft__Configuration.self, raft__configuration__init)
        (c.pointee.n_voters, c.pointee.voters) = try encodeMembers(voters, in: arena)
        (c.pointee.n_learners, c.pointee.learners) = try encodeMembers(learners, in: arena)
        (c.pointee.n_outgoing_voters, c.pointee.outgoing_voters) = try encodeMembers(outgoingVoters, in: arena)
        c.pointee.auto_leave = autoLeave ? 1 : 0
        if !removedIDs.isEmpty {
            let ids = try arena.allocate(UInt64.self, count: removedIDs.count)
            ids.initialize(from: removedIDs, count: removedIDs.count)
            c.pointee.n_removed_ids = removedIDs.count
            c.pointee.removed_ids = ids
        }
        return c
    }

    /// Reads a `raft.Configuration` back into canonical form (lists sorted, learner flags set
    /// by the list a record is in), so that a foreign encoder cannot smuggle in a record that
    /// says one thing and sits in another list.
    init(c: UnsafePointer<Raft__Configuration>) {
        let removed: [UInt64] =
            c.pointee.n_removed_ids > 0 && c.pointee.removed_ids != nil
            ? Array(UnsafeBufferPointer(start: c.pointee.removed_ids, count: c.pointee.n_removed_ids)) : []
        self.init(
            voters: decodeMembers(c.pointee.n_voters, c.pointee.voters),
            learners: decodeMembers(c.pointee.n_learners, c.pointee.learners),
            outgoingVoters: decodeMembers(c.pointee.n_outgoing_voters, c.pointee.outgoing_voters),
            autoLeave: c.pointee.auto_leave != 0, removedIDs: removed)
    }
}

extension Configuration: ProtobufCConvertible {
    static let protoName = "raft.Configuration"

    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Configuration> {
        try cMessage(in: arena)
    }

    init(cMessage c: UnsafePointer<Raft__Configuration>) throws {
        self.init(c: c)
    }

    static func packedSize(_ message: UnsafePointer<Raft__Configuration>) -> Int {
        raft__configuration__get_packed_size(message)
    }

    static func pack(_ message: UnsafePointer<Raft__Configuration>, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        raft__configuration__pack(message, out)
    }

    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<Raft__Configuration>? {
        raft__configuration__unpack(allocator, count, bytes)
    }
}

extension ConfigChange: ProtobufCConvertible {
    static let protoName = "raft.ConfigChange"

    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__ConfigChange> {
        let c = try arena.message(Raft__ConfigChange.self, raft__config_change__init)
        guard !steps.isEmpty else { return c }
        let pointers = try arena.allocate(UnsafeMutablePointer<Raft__ConfigChangeStep>?.self, count: steps.count)
        for (i, step) in steps.enumerated() {
            let s = try arena.message(Raft__ConfigChangeStep.self, raft__config_change_step__init)
            s.pointee.type = Raft__ConfigChangeType(rawValue: numericCast(step.type.rawValue))
            s.pointee.member = try step.member.cMessage(in: arena)
            (pointers + i).initialize(to: s)
        }
        c.pointee.n_steps = steps.count
        c.pointee.steps = pointers
        return c
    }

    init(cMessage c: UnsafePointer<Raft__ConfigChange>) throws {
        var steps: [ConfigChangeStep] = []
        for i in 0..<c.pointee.n_steps {
            guard let step = c.pointee.steps[i] else { continue }
            let type = try decodeEnum(ConfigChangeType.self, step.pointee.type.rawValue, field: "raft.ConfigChangeStep.type")
            steps.append(ConfigChangeStep(type, step.pointee.member.map { Member(c: $0) } ?? Member(id: 0)))
        }
        self.init(steps)
    }

    static func packedSize(_ message: UnsafePointer<Raft__ConfigChange>) -> Int {
        raft__config_change__get_packed_size(message)
    }

    static func pack(_ message: UnsafePointer<Raft__ConfigChange>, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        raft__config_change__pack(message, out)
    }

    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<Raft__ConfigChange>? {
        raft__config_change__unpack(allocator, count, bytes)
    }
}

extension ConfigChange {
    /// The protobuf encoding: the data of an `ENTRY_CONFIG` log entry.
    public func serializedBytes() throws -> [UInt8] { try WireCodec().bytes(of: self) }

    /// Decodes the data of an `ENTRY_CONFIG` log entry.
    public init(serializedBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try WireCodec().decode(ConfigChange.self, from: $0) }
    }
}

extension Configuration {
    /// The protobuf encoding (as stored in snapshot files).
    public func serializedBytes() throws -> [UInt8] { try WireCodec().bytes(of: self) }

    public init(serializedBytes bytes: some Collection<UInt8>) throws {
        self = try Array(bytes).withUnsafeBytes { try WireCodec().decode(Configuration.self, from: $0) }
    }
}
