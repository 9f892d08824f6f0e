import NIOCore
import RaftMessages
import RaftWire

/// Encode and decode throughput of 1000-entry AppendEntries envelopes through
/// libprotobuf-c, including the Swift-side copies, as entries per second.
enum CodecBenchmark {
    static func run(entriesPerMessage: Int = 1000, payloadBytes: Int = 64, rounds: Int = 2000) -> [String] {
        let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let entries = (0..<entriesPerMessage).map { i in
            LogEntry(index: 1000 + UInt64(i), term: 7, data: payload)
        }
        let envelope = Envelope(
            clusterID: "bench", fromID: 1, toID: 2, id: 1,
            body: .appendEntries(
                AppendEntriesRequest(
                    term: 7, leaderID: 1, prevLogIndex: 999, prevLogTerm: 7, entries: entries, leaderCommit: 999)))
        let codec = WireCodec()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(entriesPerMessage * (payloadBytes + 16) + 64)
        let clock = ContinuousClock()

        // Warm up, then measure each direction separately.
        for _ in 0..<(rounds / 10) {
            buffer.clear()
            try! codec.encodeFrame(envelope, into: &buffer)
        }
        let frameBytes = buffer.readableBytes
        let encodeTime = clock.measure {
            for _ in 0..<rounds {
                buffer.clear()
                try! codec.encodeFrame(envelope, into: &buffer)
            }
        }
        buffer.moveReaderIndex(forwardBy: 4)
        var checksum: UInt64 = 0
        let decodeTime = clock.measure {
            for _ in 0..<rounds {
                let decoded = try! codec.decodeEnvelope(from: buffer)
                if case .appendEntries(let request) = decoded.body { checksum &+= UInt64(request.entries.count) }
            }
        }
        precondition(checksum == UInt64(rounds * entriesPerMessage), "decoded the wrong number of entries")

        let total = Double(rounds * entriesPerMessage)
        return [
            line("codec.encode", entries: total, time: encodeTime, bytes: Double(frameBytes * rounds)),
            line("codec.decode", entries: total, time: decodeTime, bytes: Double(frameBytes * rounds)),
        ]
    }

    private static func line(_ name: String, entries: Double, time: Duration, bytes: Double) -> String {
        let seconds = Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18
        let rate = entries / seconds
        let megabytes = bytes / seconds / 1e6
        return "\(name): \(Int(rate)) entries/s, \(Int(megabytes)) MB/s (\(Int(entries)) entries of 1000-entry AppendEntries, 64-byte payloads, \(Int(seconds * 1000)) ms)"
    }
}
