import RaftCore
import RaftMessages
import Testing

@testable import RaftWire

/// Bad bytes are an error, never a crash, and leave no C memory behind.
@Suite struct MalformedInputTests {
    /// Decodes `bytes` as each top-level message; every outcome must be a
    /// value or a `WireError`.
    private func decodeAsEverything(_ bytes: [UInt8], with codec: WireCodec) -> (decoded: Int, rejected: Int) {
        var decoded = 0
        var rejected = 0
        bytes.withUnsafeBytes { raw in
            let attempts: [() throws -> Void] = [
                { _ = try codec.decodeEnvelope(from: raw) },
                { _ = try codec.decodeClientRequest(from: raw) },
                { _ = try codec.decodeClientResponse(from: raw) },
                { _ = try codec.decodeSnapshotRecord(from: raw) },
            ]
            for attempt in attempts {
                do {
                    try attempt()
                    decoded += 1
                } catch is WireError {
                    rejected += 1
                } catch {
                    Issue.record("unexpected error type \(type(of: error)): \(error)")
                }
            }
        }
        return (decoded, rejected)
    }

    @Test func randomBytesAreDecodedOrRejectedNeverCrash() {
        var rng = SplitMix64(seed: 0x5eed)
        let codec = WireCodec()
        var rejected = 0
        for _ in 0..<20_000 {
            let count = Int(rng.next() % 96)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            rejected += decodeAsEverything(bytes, with: codec).rejected
        }
        // Random bytes are mostly not protobuf: if nothing was rejected the
        // decoder is not checking anything.
        #expect(rejected > 15_000)
    }

    @Test(arguments: Samples.envelopes.filter { $0.body != nil })
    func everyTruncationOfAnEnvelopeIsDecodedOrRejected(_ envelope: Envelope) throws {
        let bytes = try envelope.serializedBytes()
        let codec = WireCodec()
        for cut in 0..<bytes.count {
            _ = decodeAsEverything(Array(bytes[..<cut]), with: codec)
        }
        // Cutting the last byte always lands inside the body's length-delimited field.
        #expect(throws: WireError.malformed(message: "raft.Envelope", byteCount: bytes.count - 1)) {
            try Envelope(serializedBytes: Array(bytes.dropLast()))
        }
    }

    @Test func lengthDelimitedFieldLongerThanTheMessageIsMalformed() {
        // cluster_id (field 1, wire type 2) announces 5 bytes, 1 follows.
        #expect(throws: WireError.malformed(message: "raft.Envelope", byteCount: 3)) {
            try Envelope(serializedBytes: [0x0A, 0x05, 0x61])
        }
    }

    @Test func wrongWireTypeForAKnownFieldIsMalformed() {
        // cluster_id (a string) sent as a varint.
        #expect(throws: WireError.malformed(message: "raft.Envelope", byteCount: 2)) {
            try Envelope(serializedBytes: [0x08, 0x01])
        }
        // append_entries (a message) sent as a fixed64.
        #expect(throws: WireError.malformed(message: "raft.Envelope", byteCount: 9)) {
            try Envelope(serializedBytes: [0x61, 1, 2, 3, 4, 5, 6, 7, 8])
        }
        // ClientRequest.request_id (a varint) sent as a length-delimited field.
        #expect(throws: WireError.malformed(message: "raft.kv.ClientRequest", byteCount: 3)) {
            try ClientRequest(serializedBytes: [0x0A, 0x01, 0x00])
        }
    }

    @Test func overlongVarintIsMalformed() {
        let bytes: [UInt8] = [0x10] + Array(repeating: 0xFF, count: 10) + [0x01]
        #expect(throws: WireError.malformed(message: "raft.Envelope", byteCount: bytes.count)) {
            try Envelope(serializedBytes: bytes)
        }
    }

    @Test func unknownEntryTypeIsRejectedByName() {
        // Envelope.append_entries { entries { type: 7 } }
        let bytes: [UInt8] = [0x62, 0x04, 0x2A, 0x02, 0x18, 0x07]
        #expect(throws: WireError.unknownEnumValue(field: "raft.LogEntry.type", value: 7)) {
            try Envelope(serializedBytes: bytes)
        }
    }

    @Test func unknownStatusIsRejectedByName() {
        // ClientResponse { request_id: 1, status: 42 }
        #expect(throws: WireError.unknownEnumValue(field: "raft.kv.ClientResponse.status", value: 42)) {
            try ClientResponse(serializedBytes: [0x08, 0x01, 0x10, 0x2A])
        }
    }

    @Test func unknownFieldsAreSkipped() throws {
        // Field 99 (varint) before a known field: newer senders may add fields.
        let envelope = try Envelope(serializedBytes: [0x98, 0x06, 0x05, 0x20, 0x07])
        #expect(envelope == Envelope(clusterID: "", fromID: 0, toID: 0, id: 7, body: nil))
    }

    @Test func decodingFailuresLeaveNoCMemoryBehind() throws {
        let codec = WireCodec()
        let baseline = codec.arenaReservedBytes
        let big = try Envelope(
            clusterID: "c", fromID: 1, toID: 2, id: 3,
            body: .appendEntries(
                AppendEntriesRequest(
                    term: 1, leaderID: 1, prevLogIndex: 0, prevLogTerm: 0,
                    entries: Samples.entries(count: 2000, payload: 512), leaderCommit: 0))
        ).serializedBytes()
        for cut in stride(from: big.count - 1, to: big.count / 2, by: -997) {
            _ = decodeAsEverything(Array(big[..<cut]), with: codec)
            #expect(codec.arenaReservedBytes == baseline)
        }
        _ = try big.withUnsafeBytes { try codec.decodeEnvelope(from: $0) }
        #expect(codec.arenaReservedBytes == baseline)
    }
}
