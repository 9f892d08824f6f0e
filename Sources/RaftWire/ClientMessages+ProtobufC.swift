import CRaftProto
import RaftMessages

extension ClientRequest: ProtobufCConvertible {
    static let protoName = "raft.kv.ClientRequest"

    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Kv__ClientRequest> {
        let c = try arena.message(Raft__Kv__ClientRequest.self, raft__kv__client_request__init)
        c.pointee.request_id = requestID
        c.pointee.client_id = clientID
        c.pointee.sequence = sequence
        switch operation {
        case nil:
            break
        case .put(let key, let value):
            let op = try arena.message(Raft__Kv__PutRequest.self, raft__kv__put_request__init)
            op.pointee.key = try arena.binary(key)
            op.pointee.value = try arena.binary(value)
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_PUT
            c.pointee.put = op
        case .get(let key, let serializable):
            let op = try arena.message(Raft__Kv__GetRequest.self, raft__kv__get_request__init)
            op.pointee.key = try arena.binary(key)
            op.pointee.serializable = serializable ? 1 : 0
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_GET
            c.pointee.get = op
        case .delete(let key):
            let op = try arena.message(Raft__Kv__DeleteRequest.self, raft__kv__delete_request__init)
            op.pointee.key = try arena.binary(key)
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_DELETE
            c.pointee.delete_ = op
        case .compareAndSwap(let key, let expected, let value):
            let op = try arena.message(
                Raft__Kv__CompareAndSwapRequest.self, raft__kv__compare_and_swap_request__init)
            op.pointee.key = try arena.binary(key)
            op.pointee.expect_exists = expected == nil ? 0 : 1
            op.pointee.expected = try arena.binary(expected ?? [])
            op.pointee.value = try arena.binary(value)
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_CAS
            c.pointee.cas = op
        case .status:
            let op = try arena.message(Raft__Kv__StatusRequest.self, raft__kv__status_request__init)
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_STATUS
            c.pointee.status = op
        case .memberList:
            let op = try arena.message(Raft__Kv__MemberListRequest.self, raft__kv__member_list_request__init)
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_MEMBER_LIST
            c.pointee.member_list = op
        case .memberAdd(let member):
            let op = try arena.message(Raft__Kv__MemberAddRequest.self, raft__kv__member_add_request__init)
            op.pointee.member = try member.cMessage(in: arena)
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_MEMBER_ADD
            c.pointee.member_add = op
        case .memberPromote(let id):
            let op = try arena.message(Raft__Kv__MemberPromoteRequest.self, raft__kv__member_promote_request__init)
            op.pointee.id = id
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_MEMBER_PROMOTE
            c.pointee.member_promote = op
        case .memberRemove(let id):
            let op = try arena.message(Raft__Kv__MemberRemoveRequest.self, raft__kv__member_remove_request__init)
            op.pointee.id = id
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_MEMBER_REMOVE
            c.pointee.member_remove = op
        case .memberReplace(let oldID, let newID):
            let op = try arena.message(Raft__Kv__MemberReplaceRequest.self, raft__kv__member_replace_request__init)
            op.pointee.old_id = oldID
            op.pointee.new_id = newID
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_MEMBER_REPLACE
            c.pointee.member_replace = op
        case .transferLeader(let id):
            let op = try arena.message(Raft__Kv__TransferLeaderRequest.self, raft__kv__transfer_leader_request__init)
            op.pointee.id = id
            c.pointee.op_case = RAFT__KV__CLIENT_REQUEST__OP_TRANSFER_LEADER
            c.pointee.transfer_leader = op
        }
        return c
    }

    init(cMessage c: UnsafePointer<Raft__Kv__ClientRequest>) throws {
        let r = c.pointee
        let operation: KVOperation?
        switch r.op_case {
        case RAFT__KV__CLIENT_REQUEST__OP_PUT:
            operation = .put(key: [UInt8](r.put.pointee.key), value: [UInt8](r.put.pointee.value))
        case RAFT__KV__CLIENT_REQUEST__OP_GET:
            operation = .get(key: [UInt8](r.get.pointee.key), serializable: r.get.pointee.serializable != 0)
        case RAFT__KV__CLIENT_REQUEST__OP_DELETE:
            operation = .delete(key: [UInt8](r.delete_.pointee.key))
        case RAFT__KV__CLIENT_REQUEST__OP_CAS:
            let cas = r.cas.pointee
            operation = .compareAndSwap(
                key: [UInt8](cas.key), expected: cas.expect_exists != 0 ? [UInt8](cas.expected) : nil,
                value: [UInt8](cas.value))
        case RAFT__KV__CLIENT_REQUEST__OP_STATUS:
            operation = .status
        case RAFT__KV__CLIENT_REQUEST__OP_MEMBER_LIST:
            operation = .memberList
        case RAFT__KV__CLIENT_REQUEST__OP_MEMBER_ADD:
            operation = .memberAdd(r.member_add.pointee.member.map { Member(c: $0) } ?? Member(id: 0))
        case RAFT__KV__CLIENT_REQUEST__OP_MEMBER_PROMOTE:
            operation = .memberPromote(id: r.member_promote.pointee.id)
        case RAFT__KV__CLIENT_REQUEST__OP_MEMBER_REMOVE:
            operation = .memberRemove(id: r.member_remove.pointee.id)
        case RAFT__KV__CLIENT_REQUEST__OP_MEMBER_REPLACE:
            operation = .memberReplace(oldID: r.member_replace.pointee.old_id, newID: r.member_replace.pointee.new_id)
        case RAFT__KV__CLIENT_REQUEST__OP_TRANSFER_LEADER:
            operation = .transferLeader(id: r.transfer_leader.pointee.id)
        default:
            operation = nil
        }
        self.init(requestID: r.request_id, clientID: r.client_id, sequence: r.sequence, operation: operation)
    }

    static func packedSize(_ message: UnsafePointer<Raft__Kv__ClientRequest>) -> Int {
        raft__kv__client_request__get_packed_size(message)
    }

    static func pack(_ message: UnsafePointer<Raft__Kv__ClientRequest>, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        raft__kv__client_request__pack(message, out)
    }

    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<Raft__Kv__ClientRequest>? {
        raft__kv__client_request__unpack(allocator, count, bytes)
    }
}

extension ClientResponse: ProtobufCConvertible {
    static let protoName = "raft.kv.ClientResponse"

    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Kv__ClientResponse> {
        let c = try arena.message(Raft__Kv__ClientResponse.self, raft__kv__client_response__init)
        c.pointee.request_id = requestID
        c.pointee.status = Raft__Kv__Status(rawValue: numericCast(status.rawValue))
        c.pointee.leader_id = leaderID
        c.pointee.leader_address = try arena.cString(leaderAddress)
        c.pointee.value = try arena.binary(value)
        c.pointee.error = try arena.cString(error)
        c.pointee.index = index
        if let node {
            let n = try arena.message(Raft__Kv__NodeStatus.self, raft__kv__node_status__init)
            n.pointee.id = node.id
            n.pointee.role = try arena.cString(node.role)
            n.pointee.term = node.term
            n.pointee.leader_id = node.leaderID
            n.pointee.commit_index = node.commitIndex
            n.pointee.applied_index = node.appliedIndex
            n.pointee.last_log_index = node.lastLogIndex
            n.pointee.snapshot_index = node.snapshotIndex
            c.pointee.node = n
        }
        (c.pointee.n_members, c.pointee.members) = try encodeMembers(members, in: arena)
        if let configuration { c.pointee.configuration = try configuration.cMessage(in: arena) }
        return c
    }

    init(cMessage c: UnsafePointer<Raft__Kv__ClientResponse>) throws {
        let r = c.pointee
        let node = r.node.map { pointer in
            let n = pointer.pointee
            return NodeStatus(
                id: n.id, role: String(protobufC: n.role), term: n.term, leaderID: n.leader_id,
                commitIndex: n.commit_index, appliedIndex: n.applied_index, lastLogIndex: n.last_log_index,
                snapshotIndex: n.snapshot_index)
        }
        self.init(
            requestID: r.request_id,
            status: try decodeEnum(KVStatus.self, r.status.rawValue, field: "raft.kv.ClientResponse.status"),
            leaderID: r.leader_id, leaderAddress: String(protobufC: r.leader_address), value: [UInt8](r.value),
            error: String(protobufC: r.error), index: r.index, node: node,
            members: decodeMembers(r.n_members, r.members), configuration: r.configuration.map { Configuration(c: $0) })
    }

    static func packedSize(_ message: UnsafePointer<Raft__Kv__ClientResponse>) -> Int {
        raft__kv__client_response__get_packed_size(message)
    }

    static func pack(_ message: UnsafePointer<Raft__Kv__ClientResponse>, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        raft__kv__client_response__pack(message, out)
    }

    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<Raft__Kv__ClientResponse>? {
        raft__kv__client_response__unpack(allocator, count, bytes)
    }
}
