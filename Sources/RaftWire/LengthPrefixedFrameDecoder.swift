import NIOCore

/// The default largest frame a receiver accepts (proto/raft.proto, framing): 16 MiB.
public let defaultMaximumFrameLength: UInt32 = 16 * 1024 * 1024

/// Splits a byte stream into frames: a 4-byte big-endian length N, then N
/// bytes (proto/raft.proto, "Framing"). Emits each frame's payload as a
/// `ByteBuffer` slice (no copy).
///
/// N = 0 and N above `maximumFrameLength` are protocol errors, thrown as
/// `FrameError` as soon as the 4 length bytes arrive, before any payload is
/// buffered: a peer cannot make the receiver hold more than one maximum
/// frame. A connection that ends inside a frame throws `.truncated`. NIO's
/// `ByteToMessageHandler` fires the error down the pipeline; the handler
/// that owns the connection closes it and counts the error.
public struct LengthPrefixedFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public let maximumFrameLength: UInt32

    public init(maximumFrameLength: UInt32 = defaultMaximumFrameLength) {
        precondition(maximumFrameLength > 0, "a maximum frame length must admit some frame")
        self.maximumFrameLength = maximumFrameLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.nextFrame(from: &buffer, maximumFrameLength: maximumFrameLength) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        if buffer.readableBytes > 0 {
            let received = buffer.readableBytes
            let expected =
                buffer.getInteger(at: buffer.readerIndex, as: UInt32.self).map { 4 + Int($0) } ?? 4
            buffer.moveReaderIndex(forwardBy: received)
            throw FrameError.truncated(expected: expected, received: received)
        }
        return .needMoreData
    }

    /// Takes one whole frame's payload off the front of `buffer`, or returns
    /// nil (consuming nothing) when the frame has not fully arrived.
    public static func nextFrame(from buffer: inout ByteBuffer, maximumFrameLength: UInt32) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length > 0 else { throw FrameError.zeroLength }
        guard length <= maximumFrameLength else {
            throw FrameError.tooLarge(length: length, maximum: maximumFrameLength)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }
}

/// Prefixes each outbound `ByteBuffer` with its 4-byte big-endian length.
/// (Encoders that write messages straight into a frame use
/// `WireCodec.encodeFrame` instead and skip this copy.)
public struct LengthPrefixedFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = ByteBuffer

    public init() {}

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard let length = UInt32(exactly: data.readableBytes), length > 0 else {
            throw data.readableBytes == 0
                ? FrameError.zeroLength : FrameError.tooLarge(length: .max, maximum: .max)
        }
        out.writeInteger(length, endianness: .big)
        out.writeImmutableBuffer(data)
    }
}
