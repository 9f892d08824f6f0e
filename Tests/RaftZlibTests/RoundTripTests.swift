import RaftZlib
import Testing

/// The inputs every round trip runs on.
enum Payload: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case empty
    case oneByte
    case random1MiB
    case kvRecords16MiB

    var bytes: [UInt8] {
        switch self {
        case .empty: []
        case .oneByte: [0x2A]
        case .random1MiB: Self.random
        case .kvRecords16MiB: Self.kv
        }
    }

    var testDescription: String { rawValue }

    private static let random = TestData.random(count: 1 << 20)
    private static let kv = TestData.kvRecords(count: 16 << 20)
}

@Suite("Round trips")
struct RoundTripTests {
    /// Fed in chunks of 1 byte, 7 bytes and 64 KiB, the stream decompresses (fed in the
    /// same chunks) to the input, and is byte-for-byte the stream a one-shot compress
    /// writes: how the input is cut does not change the output.
    @Test(arguments: Payload.allCases, [1, 7, 64 * 1024])
    func chunkedRoundTrip(payload: Payload, chunkSize: Int) throws {
        let input = payload.bytes
        let oneShot = try ZlibDeflater.compress(input)
        let (stream, _) = try streamCompress(input, chunkSize: chunkSize)
        #expect(stream == oneShot)
        let output = try streamDecompress(stream, chunkSize: chunkSize)
        #expect(output.count == input.count)
        #expect(output == input)
    }

    /// A complete stream decompresses identically when fed one byte at a time, which
    /// makes zlib stop at every possible point of its state machine.
    @Test(arguments: Payload.allCases)
    func decompressOneByteAtATime(payload: Payload) throws {
        let input = payload.bytes
        let stream = try ZlibDeflater.compress(input, level: 6)
        let output = try streamDecompress(stream, chunkSize: 1)
        #expect(output == input)
        #expect(try ZlibInflater.decompress(stream) == input)
    }

    /// Every level writes a stream that reads back, and higher levels are not larger
    /// than level 0 (stored) on compressible data.
    @Test(arguments: Array(-1...9))
    func everyLevelRoundTrips(level: Int) throws {
        let input = TestData.kvRecords(count: 300_000)
        let stream = try ZlibDeflater.compress(input, level: level)
        #expect(try ZlibInflater.decompress(stream) == input)
        if level != 0 { #expect(stream.count < input.count / 2) }
    }

    /// The output appended by one `compress` call stays within the chunk that was fed
    /// (plus a little framing), even at level 0 on incompressible data: a snapshot writer
    /// drains as it goes and never holds the whole compressed snapshot.
    @Test(arguments: [0, 1, 6, 9])
    func outputGrowthIsBoundedByTheChunk(level: Int) throws {
        let chunkSize = 64 * 1024
        let input = TestData.random(count: 4 << 20, seed: 7)
        let (stream, maxDrain) = try streamCompress(input, chunkSize: chunkSize, level: level)
        #expect(maxDrain <= chunkSize + 1024)
        #expect(try ZlibInflater.decompress(stream) == input)
    }

    /// After `flush(into:)`, everything fed so far can be decompressed by a receiver
    /// that has not seen the rest, and the stream continues normally afterwards.
    @Test func flushMakesThePrefixDecodable() throws {
        let first = TestData.kvRecords(count: 100_000, seed: 3)
        let second = TestData.kvRecords(count: 100_000, seed: 4)
        let deflater = try ZlibDeflater(level: 6)
        let inflater = try ZlibInflater()
        var compressed: [UInt8] = []
        var decompressed: [UInt8] = []

        try deflater.compress(first, into: &compressed)
        try deflater.flush(into: &compressed)
        try inflater.decompress(compressed, into: &decompressed)
        #expect(decompressed == first)
        #expect(!inflater.isFinished)

        compressed.removeAll()
        try deflater.compress(second, into: &compressed)
        try deflater.finish(into: &compressed)
        try inflater.decompress(compressed, into: &decompressed)
        try inflater.finish()
        #expect(decompressed == first + second)
        #expect(inflater.isFinished)
    }

    /// `isFinished` turns true exactly when the last byte of the stream is read, and the
    /// byte counters agree with the buffers.
    @Test func isFinishedAndCounters() throws {
        let input = TestData.kvRecords(count: 50_000)
        let deflater = try ZlibDeflater()
        var stream: [UInt8] = []
        try deflater.compress(input, into: &stream)
        #expect(!deflater.isFinished)
        try deflater.finish(into: &stream)
        #expect(deflater.isFinished)
        #expect(deflater.totalIn == input.count)
        #expect(deflater.totalOut == stream.count)

        let inflater = try ZlibInflater()
        var output: [UInt8] = []
        try inflater.decompress(stream.dropLast(), into: &output)
        #expect(!inflater.isFinished)
        try inflater.decompress(stream.suffix(1), into: &output)
        #expect(inflater.isFinished)
        try inflater.decompress([UInt8](), into: &output)  // nothing after the end is fine
        try inflater.finish()
        #expect(inflater.totalIn == stream.count)
        #expect(inflater.totalOut == input.count)
        #expect(output == input)
    }

    /// Raw buffers, slices and non-contiguous collections are accepted alike.
    @Test func inputKinds() throws {
        let input = TestData.kvRecords(count: 20_000)
        let expected = try ZlibDeflater.compress(input)

        let fromRaw = try ZlibDeflater()
        var rawStream: [UInt8] = []
        try input.withUnsafeBytes { bytes in try fromRaw.compress(bytes, into: &rawStream) }
        try fromRaw.finish(into: &rawStream)
        #expect(rawStream == expected)

        #expect(try ZlibDeflater.compress(input[...]) == expected)
        #expect(try ZlibDeflater.compress(input.lazy.map { $0 }) == expected)

        let inflater = try ZlibInflater()
        var output: [UInt8] = []
        try expected.withUnsafeBytes { bytes in try inflater.decompress(bytes, into: &output) }
        try inflater.finish()
        #expect(output == input)
        #expect(try ZlibInflater.decompress(expected.lazy.map { $0 }) == input)
    }

    @Test func invalidLevelsAreRejected() {
        #expect(throws: ZlibError.invalidLevel(10)) { try ZlibDeflater(level: 10) }
        #expect(throws: ZlibError.invalidLevel(-2)) { try ZlibDeflater(level: -2) }
    }

    @Test func deflaterIsClosedAfterFinish() throws {
        let deflater = try ZlibDeflater()
        var output: [UInt8] = []
        try deflater.finish(into: &output)
        #expect(output == [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])  // zlib's empty stream
        #expect(throws: ZlibError.alreadyFinished) { try deflater.compress([1, 2, 3], into: &output) }
        #expect(throws: ZlibError.alreadyFinished) { try deflater.flush(into: &output) }
        #expect(throws: ZlibError.alreadyFinished) { try deflater.finish(into: &output) }
    }
}
