import NIOCore
import NIOEmbedded
import RaftMessages
import Testing

@testable import RaftWire

/// Length-prefixed framing (proto/raft.proto, "Framing") on a NIO pipeline.
@Suite struct FramingTests {
    private func channel(maximum: UInt32 = defaultMaximumFrameLength) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(LengthPrefixedFrameDecoder(maximumFrameLength: maximum)))
        return channel
    }

    private func frames(of envelopes: [Envelope]) throws -> ByteBuffer {
        let codec = WireCodec()
        var buffer = ByteBuffer()
        for envelope in envelopes { try codec.encodeFrame(envelope, into: &buffer) }
        return buffer
    }

    private func readEnvelopes(_ channel: EmbeddedChannel) throws -> [Envelope] {
        var out: [Envelope] = []
        while let frame = try channel.readInbound(as: ByteBuffer.self) {
            out.append(try WireCodec().decodeEnvelope(from: frame))
        }
        return out
    }

    private var sample: [Envelope] { Samples.envelopes.filter { $0.body != nil } }

    @Test func manyFramesInOneReadAreAllDelivered() throws {
        let channel = try channel()
        try channel.writeInbound(try frames(of: sample))
        #expect(try readEnvelopes(channel) == sample)
        #expect(try channel.finish().isClean)
    }

    @Test func aFrameSplitAcrossManyReadsIsDeliveredOnce() throws {
        let channel = try channel()
        var all = try frames(of: sample)
        var delivered: [Envelope] = []
        while let byte = all.readSlice(length: 1) {
            try channel.writeInbound(byte)
            delivered += try readEnvelopes(channel)
        }
        #expect(delivered == sample)
        #expect(try channel.finish().isClean)
    }

    @Test func framesCutAtEveryOffsetReassemble() throws {
        let stream = try frames(of: Array(sample.prefix(4)))
        for cut in 1..<stream.readableBytes {
            let channel = try channel()
            try channel.writeInbound(stream.getSlice(at: 0, length: cut)!)
            try channel.writeInbound(stream.getSlice(at: cut, length: stream.readableBytes - cut)!)
            #expect(try readEnvelopes(channel) == Array(sample.prefix(4)), "cut at \(cut)")
            _ = try channel.finish()
        }
    }

    @Test func zeroLengthFrameIsAProtocolError() throws {
        let channel = try channel()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(0))
        #expect(throws: FrameError.zeroLength) { try channel.writeInbound(buffer) }
        _ = try? channel.finish()
    }

    @Test func frameAboveTheMaximumIsRejectedBeforeItsPayloadArrives() throws {
        let channel = try channel(maximum: 1024)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1025))
        #expect(throws: FrameError.tooLarge(length: 1025, maximum: 1024)) { try channel.writeInbound(buffer) }
        _ = try? channel.finish()

        let defaultChannel = try self.channel()
        var huge = ByteBuffer()
        huge.writeInteger(UInt32.max)
        #expect(throws: FrameError.tooLarge(length: .max, maximum: 16 << 20)) {
            try defaultChannel.writeInbound(huge)
        }
        _ = try? defaultChannel.finish()
    }

    @Test func frameOfExactlyTheMaximumIsAccepted() throws {
        let channel = try channel(maximum: 1024)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1024))
        buffer.writeRepeatingByte(7, count: 1024)
        try channel.writeInbound(buffer)
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 1024)
        #expect(try channel.finish().isClean)
    }

    @Test func connectionClosedInsideAFrameIsTruncated() throws {
        let channel = try channel()
        var stream = try frames(of: [sample[0]])
        let whole = stream.readableBytes
        let partial = stream.readSlice(length: whole - 1)!
        try channel.writeInbound(partial)
        #expect(throws: FrameError.truncated(expected: whole, received: whole - 1)) { try channel.finish() }

        let prefixOnly = try self.channel()
        var twoBytes = ByteBuffer()
        twoBytes.writeInteger(UInt16(0))
        try prefixOnly.writeInbound(twoBytes)
        #expect(throws: FrameError.truncated(expected: 4, received: 2)) { try prefixOnly.finish() }
    }

    @Test func garbageInsideAValidFrameIsAWireErrorNotAFrameError() throws {
        let channel = try channel()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(3))
        buffer.writeBytes([0x0A, 0x05, 0x61])
        try channel.writeInbound(buffer)
        let frame = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(throws: WireError.malformed(message: "raft.Envelope", byteCount: 3)) {
            try WireCodec().decodeEnvelope(from: frame)
        }
        #expect(try channel.finish().isClean)
    }

    @Test func frameEncoderPrefixesTheLength() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(LengthPrefixedFrameEncoder()))
        let payload = ByteBuffer(bytes: [1, 2, 3])
        try channel.writeOutbound(payload)
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(Array(written.readableBytesView) == [0, 0, 0, 3, 1, 2, 3])
        #expect(throws: FrameError.zeroLength) { try channel.writeOutbound(ByteBuffer()) }
        _ = try? channel.finish()
    }

    @Test func encodedClientFramesDecodeThroughTheSameFraming() throws {
        let codec = WireCodec()
        var buffer = ByteBuffer()
        for request in Samples.requests { try codec.encodeFrame(request, into: &buffer) }
        let channel = try channel()
        try channel.writeInbound(buffer)
        var decoded: [ClientRequest] = []
        while let frame = try channel.readInbound(as: ByteBuffer.self) {
            decoded.append(try codec.decodeClientRequest(from: frame))
        }
        #expect(decoded == Samples.requests)
    }
}
