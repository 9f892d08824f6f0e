import CRaftProto
import RaftMessages

/// A decoded snapshot record; nil `record` when the oneof was unset (the reader rejects it).
struct OptionalSnapshotRecord {
    var record: KVSnapshotRecord?
}

extension OptionalSnapshotRecord: ProtobufCConvertible {
    static let protoName = "raft.kv.SnapshotRecord"

    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<Raft__Kv__SnapshotRecord> {
        let c = try arena.message(Raft__Kv__SnapshotRecord.self, raft__kv__snapshot_record__init)
        switch record {
        case nil:
            break
        case .pair(let key, let value):
            let pair = try arena.message(Raft__Kv__SnapshotPair.self, raft__kv__snapshot_pair__init)
            pair.pointee.key = try arena.binary(key)
            pair.pointee.value = try arena.binary(value)
            c.pointee.record_case = RAFT__KV__SNAPSHOT_RECORD__RECORD_PAIR
            c.pointee.pair = pair
        case .session(let s):
            let session = try arena.message(Raft__Kv__SnapshotSession.self, raft__kv__snapshot_session__init)
            session.pointee.client_id = s.clientID
            session.pointee.sequence = s.sequence
            session.pointee.status = Raft__Kv__Status(rawValue: numericCast(s.status.rawValue))
            session.pointee.index = s.index
            c.pointee.record_case = RAFT__KV__SNAPSHOT_RECORD__RECORD_SESSION
            c.pointee.session = session
        case .trailer(let records, let crc32):
            let trailer = try arena.message(Raft__Kv__SnapshotTrailer.self, raft__kv__snapshot_trailer__init)
            trailer.pointee.records = records
            trailer.pointee.crc32 = crc32
            c.pointee.record_case = RAFT__KV__SNAPSHOT_RECORD__RECORD_TRAILER
            c.pointee.trailer = trailer
        }
        return c
    }

    init(cMessage c: UnsafePointer<Raft__Kv__SnapshotRecord>) throws {
        switch c.pointee.record_case {
        case RAFT__KV__SNAPSHOT_RECORD__RECORD_PAIR:
            let pair = c.pointee.pair.pointee
            record = .pair(key: [UInt8](pair.key), value: [UInt8](pair.value))
        case RAFT__KV__SNAPSHOT_RECORD__RECORD_SESSION:
            let s = c.pointee.session.pointee
            record = .session(
                KVSession(
                    clientID: s.client_id, sequence: s.sequence,
                    status: try decodeEnum(KVStatus.self, s.status.rawValue, field: "raft.kv.SnapshotSession.status"),
                    index: s.index))
        case RAFT__KV__SNAPSHOT_RECORD__RECORD_TRAILER:
            record = .trailer(records: c.pointee.trailer.pointee.records, crc32: c.pointee.trailer.pointee.crc32)
        default:
            record = nil
        }
    }

    static func packedSize(_ message: UnsafePointer<Raft__Kv__SnapshotRecord>) -> Int {
        raft__kv__snapshot_record__get_packed_size(message)
    }

    static func pack(_ message: UnsafePointer<Raft__Kv__SnapshotRecord>, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        raft__kv__snapshot_record__pack(message, out)
    }

    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<Raft__Kv__SnapshotRecord>? {
        raft__kv__snapshot_record__unpack(allocator, count, bytes)
    }
}
