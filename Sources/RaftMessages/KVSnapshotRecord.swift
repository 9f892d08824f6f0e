/// What the key-value store remembers about one client's writes (`raft.kv.SnapshotSession`):
/// the highest sequence applied and how it was answered, so a retry is answered, not re-applied.
public struct KVSession: Sendable, Hashable {
    public var clientID: UInt64
    public var sequence: UInt64
    public var status: KVStatus
    /// The log index the write committed at.
    public var index: UInt64

    public init(clientID: UInt64, sequence: UInt64, status: KVStatus, index: UInt64) {
        self.clientID = clientID
        self.sequence = sequence
        self.status = status
        self.index = index
    }
}

/// One record of a key-value snapshot (`raft.kv.SnapshotRecord`).
public enum KVSnapshotRecord: Sendable, Hashable {
    case pair(key: [UInt8], value: [UInt8])
    case session(KVSession)
    /// Last record: how many records precede it and the CRC-32 of their framed bytes.
    case trailer(records: UInt64, crc32: UInt32)
}
