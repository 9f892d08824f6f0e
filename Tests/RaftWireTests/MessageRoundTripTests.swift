import NIOCore
import RaftMessages
import Testing

@testable import RaftWire

@Suite struct MessageRoundTripTests {
    @Test(arguments: Samples.envelopes)
    func everyEnvelopeBodyRoundTrips(_ envelope: Envelope) throws {
        let bytes = try envelope.serializedBytes()
        #expect(try Envelope(serializedBytes: bytes) == envelope)
    }

    @Test(arguments: Samples.requests)
    func everyClientRequestOperationRoundTrips(_ request: ClientRequest) throws {
        #expect(try ClientRequest(serializedBytes: request.serializedBytes()) == request)
    }

    @Test(arguments: Samples.responses)
    func everyClientResponseRoundTrips(_ response: ClientResponse) throws {
        #expect(try ClientResponse(serializedBytes: response.serializedBytes()) == response)
    }

    @Test(arguments: Samples.snapshotRecords)
    func everySnapshotRecordRoundTripsThroughAFrame(_ record: KVSnapshotRecord) throws {
        let codec = WireCodec()
        var buffer = ByteBuffer()
        try codec.encodeFrame(record, into: &buffer)
        let frame = try #require(try LengthPrefixedFrameDecoder.nextFrame(from: &buffer, maximumFrameLength: 1 << 20))
        #expect(try codec.decodeSnapshotRecord(from: frame) == record)
        #expect(buffer.readableBytes == 0)
    }

    @Test func appendEntriesWithThousandsOfEntriesRoundTrips() throws {
        let request = AppendEntriesRequest(
            term: 12, leaderID: 2, prevLogIndex: 4999, prevLogTerm: 11,
            entries: Samples.entries(count: 5000, payload: 64, firstIndex: 5000), leaderCommit: 4000)
        let envelope = Envelope(clusterID: "c", fromID: 2, toID: 3, id: 1, body: .appendEntries(request))
        #expect(try Envelope(serializedBytes: envelope.serializedBytes()) == envelope)
    }

    @Test func sixteenMebibytePayloadsRoundTrip() throws {
        let payload = (0..<(16 << 20)).map { UInt8(truncatingIfNeeded: $0 ^ ($0 >> 9)) }
        let entry = Envelope(
            clusterID: "c", fromID: 1, toID: 2, id: 1,
            body: .appendEntries(
                AppendEntriesRequest(
                    term: 1, leaderID: 1, prevLogIndex: 0, prevLogTerm: 0,
                    entries: [LogEntry(index: 1, term: 1, data: payload)], leaderCommit: 0)))
        #expect(try Envelope(serializedBytes: entry.serializedBytes()) == entry)

        let chunk = Envelope(
            clusterID: "c", fromID: 1, toID: 2, id: 2,
            body: .installSnapshot(
                InstallSnapshotRequest(
                    term: 1, leaderID: 1, lastIncludedIndex: 9, lastIncludedTerm: 1, offset: 0, data: payload,
                    done: true)))
        #expect(try Envelope(serializedBytes: chunk.serializedBytes()) == chunk)

        let response = ClientResponse(requestID: 1, status: .ok, value: payload)
        #expect(try ClientResponse(serializedBytes: response.serializedBytes()) == response)
    }

    @Test func oneCodecReusedAcrossManyMessagesKeepsResults() throws {
        let codec = WireCodec()
        for round in 0..<3 {
            for envelope in Samples.envelopes {
                let bytes = try codec.encode(envelope)
                let decoded = try bytes.withUnsafeBytes { try codec.decodeEnvelope(from: $0) }
                #expect(decoded == envelope, "round \(round)")
            }
        }
    }

    @Test func encodeIntoByteBufferMatchesArrayEncoding() throws {
        let codec = WireCodec()
        for envelope in Samples.envelopes {
            var buffer = ByteBuffer()
            try codec.encode(envelope, into: &buffer)
            #expect(Array(buffer.readableBytesView) == (try envelope.serializedBytes()))
            #expect(try codec.decodeEnvelope(from: buffer) == envelope)
        }
    }

    @Test func allDefaultEnvelopeIsZeroBytesAndCannotBeFramed() throws {
        let empty = Envelope(clusterID: "", fromID: 0, toID: 0, id: 0, body: nil)
        #expect(try empty.serializedBytes().isEmpty)
        #expect(try Envelope(serializedBytes: []) == empty)
        var buffer = ByteBuffer()
        #expect(throws: FrameError.zeroLength) { try WireCodec().encodeFrame(empty, into: &buffer) }
    }
}
