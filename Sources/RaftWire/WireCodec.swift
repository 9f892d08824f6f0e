import CRaftProto
import NIOCore
import RaftMessages

/// Turns the protocol's Swift values into protobuf bytes and back through
/// libprotobuf-c (proto/raft.proto, proto/kv.proto).
///
/// A codec reuses one arena for the C structures of every call, so encoding
/// and decoding allocate on the C side only when a message outgrows what the
/// arena already holds. It is not thread-safe: give each connection or event
/// loop its own. The static helpers on the message types use a fresh codec
/// per call and are safe anywhere.
public final class WireCodec {
    private let arena = ProtoArena()

    public init() {}

    /// C memory the codec holds between calls (its arena's first block).
    var arenaReservedBytes: Int { arena.reservedBytes }

    // MARK: raft.Envelope

    public func encode(_ envelope: Envelope) throws -> [UInt8] { try bytes(of: envelope) }

    /// Appends the serialized envelope (no length prefix) to `buffer`.
    public func encode(_ envelope: Envelope, into buffer: inout ByteBuffer) throws {
        try write(envelope, into: &buffer, framed: false)
    }

    /// Appends one frame (4-byte big-endian length, then the envelope) to `buffer`.
    public func encodeFrame(_ envelope: Envelope, into buffer: inout ByteBuffer) throws {
        try write(envelope, into: &buffer, framed: true)
    }

    public func decodeEnvelope(from bytes: UnsafeRawBufferPointer) throws -> Envelope {
        try decode(Envelope.self, from: bytes)
    }

    /// Decodes the readable bytes of `buffer` (one whole frame payload).
    public func decodeEnvelope(from buffer: ByteBuffer) throws -> Envelope {
        try buffer.withUnsafeReadableBytes { try decode(Envelope.self, from: $0) }
    }

    // MARK: raft.kv.ClientRequest

    public func encode(_ request: ClientRequest) throws -> [UInt8] { try bytes(of: request) }

    public func encodeFrame(_ request: ClientRequest, into buffer: inout ByteBuffer) throws {
        try write(request, into: &buffer, framed: true)
    }

    public func decodeClientRequest(from bytes: UnsafeRawBufferPointer) throws -> ClientRequest {
        try decode(ClientRequest.self, from: bytes)
    }

    public func decodeClientRequest(from buffer: ByteBuffer) throws -> ClientRequest {
        try buffer.withUnsafeReadableBytes { try decode(ClientRequest.self, from: $0) }
    }

    // MARK: raft.kv.ClientResponse

    public func encode(_ response: ClientResponse) throws -> [UInt8] { try bytes(of: response) }

    public func encodeFrame(_ response: ClientResponse, into buffer: inout ByteBuffer) throws {
        try write(response, into: &buffer, framed: true)
    }

    public func decodeClientResponse(from bytes: UnsafeRawBufferPointer) throws -> ClientResponse {
        try decode(ClientResponse.self, from: bytes)
    }

    public func decodeClientResponse(from buffer: ByteBuffer) throws -> ClientResponse {
        try buffer.withUnsafeReadableBytes { try decode(ClientResponse.self, from: $0) }
    }

    // MARK: raft.kv.SnapshotRecord

    /// Appends one framed snapshot record (the key-value snapshot format, see kv.proto).
    public func encodeFrame(_ record: KVSnapshotRecord, into buffer: inout ByteBuffer) throws {
        try write(OptionalSnapshotRecord(record: record), into: &buffer, framed: true)
    }

    /// Decodes one snapshot record; nil when the record carries neither a pair nor a session.
    public func decodeSnapshotRecord(from bytes: UnsafeRawBufferPointer) throws -> KVSnapshotRecord? {
        try decode(OptionalSnapshotRecord.self, from: bytes).record
    }

    public func decodeSnapshotRecord(from buffer: ByteBuffer) throws -> KVSnapshotRecord? {
        try buffer.withUnsafeReadableBytes { try decode(OptionalSnapshotRecord.self, from: $0).record }
    }

    // MARK: shared paths

    func bytes<M: ProtobufCConvertible>(of message: M) throws -> [UInt8] {
        defer { arena.reset() }
        let c = try message.makeCMessage(in: arena)
        let size = M.packedSize(c)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = size == 0 ? 0 : M.pack(c, buffer.baseAddress!)
        }
    }

    private func write<M: ProtobufCConvertible>(_ message: M, into buffer: inout ByteBuffer, framed: Bool) throws {
        defer { arena.reset() }
        let c = try message.makeCMessage(in: arena)
        let size = M.packedSize(c)
        if framed {
            // The framing forbids empty frames, so an all-default message cannot travel.
            guard size > 0 else { throw FrameError.zeroLength }
            guard let length = UInt32(exactly: size) else {
                throw FrameError.tooLarge(length: .max, maximum: .max)
            }
            buffer.writeInteger(length, endianness: .big)
        }
        guard size > 0 else { return }
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            M.pack(c, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        precondition(written == size, "protobuf-c packed \(written) bytes, announced \(size)")
    }

    func decode<M: ProtobufCConvertible>(_: M.Type, from bytes: UnsafeRawBufferPointer) throws -> M {
        defer { arena.reset() }
        var allocator = arena.allocator
        // protobuf-c wants a pointer even for zero bytes; an empty message is valid.
        var empty: UInt8 = 0
        let unpacked: UnsafeMutablePointer<M.CMessage>? =
            if let base = bytes.baseAddress, bytes.count > 0 {
                M.unpack(&allocator, bytes.count, base.assumingMemoryBound(to: UInt8.self))
            } else {
                M.unpack(&allocator, 0, &empty)
            }
        guard let unpacked else {
            throw WireError.malformed(message: M.protoName, byteCount: bytes.count)
        }
        return try M(cMessage: unpacked)
    }
}

extension Envelope {
    /// The protobuf encoding of this envelope (a fresh codec per call).
    public func serializedBytes() throws -> [UInt8] { try WireCodec().encode(self) }

    /// Decodes one envelope from protobuf bytes.
    public init(serializedBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try WireCodec().decodeEnvelope(from: $0) }
    }
}

extension ClientRequest {
    public func serializedBytes() throws -> [UInt8] { try WireCodec().encode(self) }

    public init(serializedBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try WireCodec().decodeClientRequest(from: $0) }
    }
}

extension ClientResponse {
    public func serializedBytes() throws -> [UInt8] { try WireCodec().encode(self) }

    public init(serializedBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try WireCodec().decodeClientResponse(from: $0) }
    }
}
