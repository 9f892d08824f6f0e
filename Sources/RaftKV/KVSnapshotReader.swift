import NIOCore
import RaftMessages
import RaftWire
import RaftZlib

/// Why a key-value snapshot could not be read.
public enum KVSnapshotError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The zlib stream is corrupt or truncated.
    case compression(ZlibError)
    /// A record's framing or encoding is bad (`offset`: position in the decompressed stream).
    case badRecord(offset: Int, reason: String)

    public var description: String {
        switch self {
        case .compression(let error): "snapshot zlib stream: \(error)"
        case .badRecord(let offset, let reason): "snapshot record at decompressed offset \(offset): \(reason)"
        }
    }
}

/// Reads a key-value snapshot chunk by chunk, as the chunks arrive from disk or from a leader,
/// and builds the state it describes without holding the decompressed stream whole.
public final class KVSnapshotReader {
    private let inflater: ZlibInflater
    private let codec = WireCodec()
    private var pending = ByteBuffer()
    private var consumedOffset = 0
    private var pairs: [[UInt8]: [UInt8]] = [:]
    private var sessions: [UInt64: KVSession] = [:]
    private var crc = CRC32()
    private var records: UInt64 = 0
    private var sawTrailer = false

    /// Largest record accepted; a snapshot is local or from an authenticated peer, but a corrupt
    /// length must not make us allocate without bound.
    public static let maximumRecordLength: UInt32 = 64 * 1024 * 1024

    public init() throws {
        do {
            inflater = try ZlibInflater()
        } catch {
            throw KVSnapshotError.compression(error)
        }
    }

    /// Feeds the next compressed chunk.
    public func consume(_ chunk: [UInt8]) throws {
        var output: [UInt8] = []
        do {
            try inflater.decompress(chunk, into: &output)
        } catch {
            throw KVSnapshotError.compression(error)
        }
        pending.writeBytes(output)
        try parseFrames()
    }

    /// Decompressed bytes read so far (the snapshot's raw size once finished).
    public var rawBytes: Int { consumedOffset }

    /// Declares the stream complete and returns the state it described.
    func finish() throws -> (pairs: [[UInt8]: [UInt8]], sessions: [UInt64: KVSession]) {
        do {
            try inflater.finish()
        } catch {
            throw KVSnapshotError.compression(error)
        }
        guard pending.readableBytes == 0 else {
            throw KVSnapshotError.badRecord(
                offset: consumedOffset, reason: "stream ends inside a record (\(pending.readableBytes) bytes left)")
        }
        guard sawTrailer else {
            throw KVSnapshotError.badRecord(offset: consumedOffset, reason: "snapshot ends without its trailer")
        }
        return (pairs, sessions)
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
