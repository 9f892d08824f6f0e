import NIOCore
import RaftMessages
import RaftNode
import RaftWire
import RaftZlib

/// Why a key-value snapshot could not be read.
public enum KVSnapshotError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The zlib stream is corrupt or truncated.
    case compression(ZlibError)
    /// A record's framing or encoding is bad (`offset`: position in the raw stream).
    case badRecord(offset: Int, reason: String)

    public var description: String {
        switch self {
        case .compression(let error): "snapshot zlib stream: \(error)"
        case .badRecord(let offset, let reason): "snapshot record at raw offset \(offset): \(reason)"
        }
    }
}

/// Rebuilds a key-value state from a snapshot's raw bytes (what `KVSnapshotView` wrote), chunk
/// by chunk as they are read, without holding the stream whole; the node runs it off its loop
/// and then swaps the result in with `KVStore.restore(index:from:)`.
public final class KVSnapshotReader: StateMachineRestorer {
    private let codec = WireCodec()
    private var pending = ByteBuffer()
    private var consumedOffset = 0
    private var pairs = KVPairs()
    private var sessions: [UInt64: KVSession] = [:]
    private var crc = CRC32()
    private var records: UInt64 = 0
    private var sawTrailer = false
    /// The state, once `finish()` succeeded.
    private(set) var state: (pairs: KVPairs, sessions: [UInt64: KVSession])?

    /// Largest record accepted; a snapshot is local or from an authenticated peer, but a corrupt
    /// length must not make us allocate without bound.
    public static let maximumRecordLength: UInt32 = 64 * 1024 * 1024

    public init() {}

    /// Feeds the next raw bytes.
    public func consume(_ chunk: UnsafeRawBufferPointer) throws {
        pending.writeBytes(chunk)
        try parseFrames()
    }

    /// Raw bytes read so far (the snapshot's raw size once finished).
    public var rawBytes: Int { consumedOffset }

    /// Declares the stream complete; throws unless it ended with its trailer.
    public func finish() throws {
        guard pending.readableBytes == 0 else {
            throw KVSnapshotError.badRecord(
                offset: consumedOffset, reason: "stream ends inside a record (\(pending.readableBytes) bytes left)")
        }
        guard sawTrailer else {
            throw KVSnapshotError.badRecord(offset: consumedOffset, reason: "snapshot ends without its trailer")
        }
        state = (pairs, sessions)
    }

    private func parseFrames() throws {
        while true {
            let frame: ByteBuffer?
            do {
                frame = try LengthPrefixedFrameDecoder.nextFrame(
                    from: &pending, maximumFrameLength: Self.maximumRecordLength)
            } catch {
                throw KVSnapshotError.badRecord(offset: consumedOffset, reason: "\(error)")
            }
            guard let frame else { break }
            guard !sawTrailer else {
                throw KVSnapshotError.badRecord(offset: consumedOffset, reason: "record after the trailer")
            }
            let record: KVSnapshotRecord?
            do {
                record = try codec.decodeSnapshotRecord(from: frame)
            } catch {
                throw KVSnapshotError.badRecord(offset: consumedOffset, reason: "\(error)")
            }
            switch record {
            case .pair(let key, let value)?:
                pairs[key] = value
            case .session(let session)?:
                sessions[session.clientID] = session
            case .trailer(let count, let checksum)?:
                guard count == records, checksum == crc.value else {
                    throw KVSnapshotError.badRecord(
                        offset: consumedOffset,
                        reason: "trailer says \(count) records with crc32 \(checksum), read \(records) with \(crc.value)")
                }
                sawTrailer = true
            case nil:
                throw KVSnapshotError.badRecord(
                    offset: consumedOffset, reason: "record holds neither a pair, a session nor a trailer")
            }
            if !sawTrailer {
                records += 1
                var length = UInt32(frame.readableBytes).bigEndian
                withUnsafeBytes(of: &length) { crc.update($0) }
                frame.withUnsafeReadableBytes { crc.update($0) }
            }
            consumedOffset += 4 + frame.readableBytes
        }
        pending.discardReadBytes()
    }
}
