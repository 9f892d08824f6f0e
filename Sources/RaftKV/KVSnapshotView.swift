import NIOCore
import RaftMessages
import RaftNode
import RaftWire
import RaftZlib

/// The key-value state at one applied index, written out off the loop as framed
/// `SnapshotRecord`s (kv.proto): every pair, every session, then a trailer that counts the
/// records and checksums them (CRC-32), so that a reader knows it got all of them.
public struct KVSnapshotView: StateMachineSnapshot {
    let pairs: KVPairs
    let sessions: [UInt64: KVSession]
    /// The applied index the view was taken at.
    public let index: UInt64

    /// Raw bytes handed to the sink at a time.
    static let chunkBytes = 256 * 1024

    public func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let codec = WireCodec()
        var frames = ByteBuffer()
        frames.reserveCapacity(Self.chunkBytes + 64 * 1024)
        var crc = CRC32()
        var records: UInt64 = 0
        func add(_ record: KVSnapshotRecord) throws {
            let start = frames.writerIndex
            try codec.encodeFrame(record, into: &frames)
            if case .trailer = record { return }
            records += 1
            frames.withUnsafeReadableBytes { all in
                crc.update(UnsafeRawBufferPointer(rebasing: all[(start - frames.readerIndex)...]))
            }
            if frames.readableBytes >= Self.chunkBytes { try drain() }
        }
        func drain() throws {
            try frames.withUnsafeReadableBytes { try sink($0) }
            frames.clear()
        }
        try pairs.forEach { key, value in try add(.pair(key: key, value: value)) }
        for session in sessions.values { try add(.session(session)) }
        try add(.trailer(records: records, crc32: crc.value))
        try drain()
    }
}
