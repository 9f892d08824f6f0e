import RaftCore
import RaftZlib
import Testing

/// Decompresses `stream` whole and `smallChunk` bytes at a time; returns the output when both
/// succeed (they must agree) or the error, which must be the same both ways.
func decode(_ stream: [UInt8], maxOutputBytes: Int = .max, smallChunk: Int = 1) -> Result<[UInt8], ZlibError> {
    let whole = Result { () throws(ZlibError) in try streamDecompress(stream, chunkSize: max(stream.count, 1), maxOutputBytes: maxOutputBytes) }
    let byByte = Result { () throws(ZlibError) in try streamDecompress(stream, chunkSize: smallChunk, maxOutputBytes: maxOutputBytes) }
    #expect(whole == byByte)
    return whole
}

/// Untrusted input — from a peer or a damaged file — must end in a `ZlibError`, never a
/// crash and never wrong bytes reported as success.
@Suite("Bad input")
struct BadInputTests {
    static let sample = TestData.kvRecords(count: 3_000, seed: 11) + TestData.random(count: 300, seed: 12)

    /// Random bytes, bare and behind a valid zlib header (so they reach the deflate
    /// decoder), are rejected.
    @Test func randomBytesAreRejected() {
        var generator = SplitMix64(seed: 99)
        var kinds: [String: Int] = [:]
        for round in 0..<2_000 {
            var bytes = TestData.random(count: Int(generator.next() % 400), seed: UInt64(round))
            if round.isMultiple(of: 2) { bytes = [0x78, 0x9C] + bytes }
            switch decode(bytes) {
            case .success(let output):
                Issue.record("random input #\(round) (\(bytes.count) bytes) decoded to \(output.count) bytes")
            case .failure(let error):
                kinds[caseName(error), default: 0] += 1
            }
        }
        #expect(kinds["corruptData", default: 0] > 1_000)
        #expect(Set(kinds.keys).isSubset(of: ["corruptData", "truncatedStream", "trailingData", "dictionaryRequired"]))
    }

    /// Every proper prefix of a valid stream — including the empty one — reads without
    /// error and then fails at `finish()` with `truncatedStream`.
    @Test(arguments: [0, 6, 9])
    func everyPrefixIsTruncated(level: Int) throws {
        let stream = try ZlibDeflater.compress(Self.sample, level: level)
        for length in 0..<stream.count {
            let prefix = Array(stream[..<length])
            #expect(decode(prefix) == .failure(.truncatedStream), "prefix of \(length) of \(stream.count) bytes")
        }
        #expect(decode([]) == .failure(.truncatedStream))
    }

    /// Flipping any single bit of a stream is caught — by the header check, the deflate
    /// decoder or the Adler-32 trailer — except in two ways, both checked here:
    /// - a few bits zlib ignores (the padding before the trailer) may flip harmlessly:
    ///   the output is then the original;
    /// - rarely, a flip decodes to different bytes whose Adler-32 equals the original's
    ///   (Adler-32 is two sums, blind to changes like digits "657" becoming "576"). Python's
    ///   zlib accepts exactly the same flips (see the interop suite), so this is zlib's
    ///   format, not our code. The CRC-32 the storage layer frames records with detects
    ///   every single-bit error, so each such flip is shown to change the CRC-32.
    @Test(arguments: [0, 1, 9])
    func flippedBitsAreErrorsNotSilentlyWrongData(level: Int) throws {
        let stream = try ZlibDeflater.compress(Self.sample, level: level)
        let streamCRC = CRC32.checksum(stream)
        var harmless = 0
        var adlerCollisions = 0
        var kinds: [String: Int] = [:]
        for bit in 0..<(stream.count * 8) {
            var damaged = stream
            damaged[bit / 8] ^= UInt8(1) << (bit % 8)
            #expect(CRC32.checksum(damaged) != streamCRC)
            switch decode(damaged, smallChunk: 7) {
            case .success(let output) where output == Self.sample:
                harmless += 1
            case .success(let output):
                adlerCollisions += 1
                #expect(adler32(output) == adler32(Self.sample), "bit \(bit): wrong data with a different Adler-32")
            case .failure(let error):
                kinds[caseName(error), default: 0] += 1
            }
        }
        #expect(harmless <= 16)
        #expect(adlerCollisions * 1_000 < stream.count * 8)
        #expect(kinds["corruptData", default: 0] > stream.count * 4)
        #expect(Set(kinds.keys).isSubset(of: ["corruptData", "truncatedStream", "trailingData", "dictionaryRequired"]))
    }

    /// A damaged checksum is reported with zlib's own message.
    @Test func corruptDataCarriesZlibsMessage() throws {
        var stream = try ZlibDeflater.compress(Self.sample)
        stream[stream.count - 1] ^= 0xFF
        #expect(decode(stream) == .failure(.corruptData(message: "incorrect data check")))

        var header = try ZlibDeflater.compress(Self.sample)
        header[1] ^= 0x01
        #expect(decode(header) == .failure(.corruptData(message: "incorrect header check")))
    }

    /// Bytes after the end of the stream are `trailingData`, whether they arrive with the
    /// last bytes of the stream, in a later chunk, or as a second stream.
    @Test func trailingGarbageIsRejected() throws {
        let stream = try ZlibDeflater.compress(Self.sample)
        #expect(decode(stream + [0]) == .failure(.trailingData))
        #expect(decode(stream + stream) == .failure(.trailingData))

        let inflater = try ZlibInflater()
        var output: [UInt8] = []
        try inflater.decompress(stream, into: &output)
        #expect(inflater.isFinished)
        #expect(output == Self.sample)
        #expect(throws: ZlibError.trailingData) { try inflater.decompress([1, 2, 3], into: &output) }
        #expect(throws: ZlibError.trailingData) { try inflater.finish() }  // the error sticks
    }

    /// A decompression bomb stops at `maxOutputBytes` with `outputLimitExceeded`, having
    /// appended no more than the limit; a stream of exactly the limit is accepted.
    @Test func outputLimitStopsBombs() throws {
        let zeros = [UInt8](repeating: 0, count: 16 << 20)
        let bomb = try ZlibDeflater.compress(zeros, level: 9)
        #expect(bomb.count < 20_000)

        let limit = 1 << 20
        #expect(decode(bomb, maxOutputBytes: limit) == .failure(.outputLimitExceeded(limit: limit)))

        let inflater = try ZlibInflater(maxOutputBytes: limit)
        var output: [UInt8] = []
        #expect(throws: ZlibError.outputLimitExceeded(limit: limit)) { try inflater.decompress(bomb, into: &output) }
        #expect(output.count <= limit)
        #expect(inflater.totalOut <= limit)

        #expect(decode(bomb, maxOutputBytes: zeros.count) == .success(zeros))
        #expect(decode(bomb, maxOutputBytes: zeros.count - 1) == .failure(.outputLimitExceeded(limit: zeros.count - 1)))
        #expect(decode(try ZlibDeflater.compress([]), maxOutputBytes: 0) == .success([]))
        #expect(decode(try ZlibDeflater.compress([7]), maxOutputBytes: 0) == .failure(.outputLimitExceeded(limit: 0)))
    }

    /// A stream announcing a preset dictionary (FDICT) is refused: we never write one.
    @Test func presetDictionaryIsRefused() {
        // CMF 0x78, FLG 0x20 (FDICT set, FCHECK valid), then a dictionary id.
        #expect(decode([0x78, 0x20, 0x00, 0x00, 0x00, 0x01]) == .failure(.dictionaryRequired))
    }

    /// After an error, the inflater keeps throwing that error.
    @Test func errorsAreSticky() throws {
        let stream = try ZlibDeflater.compress(Self.sample)
        let inflater = try ZlibInflater()
        var output: [UInt8] = []
        let error = ZlibError.corruptData(message: "incorrect header check")
        #expect(throws: error) { try inflater.decompress([0x78, 0x00], into: &output) }
        #expect(throws: error) { try inflater.decompress(stream, into: &output) }
        #expect(throws: error) { try inflater.finish() }
    }
}

/// The case of a `ZlibError`, without its payload, for tallies.
func caseName(_ error: ZlibError) -> String {
    switch error {
    case .invalidLevel: "invalidLevel"
    case .outOfMemory: "outOfMemory"
    case .corruptData: "corruptData"
    case .dictionaryRequired: "dictionaryRequired"
    case .truncatedStream: "truncatedStream"
    case .trailingData: "trailingData"
    case .outputLimitExceeded: "outputLimitExceeded"
    case .alreadyFinished: "alreadyFinished"
    case .unexpected: "unexpected"
    }
}

/// Adler-32 (RFC 1950 section 8.2), written out here so the test does not trust zlib's.
func adler32(_ bytes: [UInt8]) -> UInt32 {
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in bytes {
        a = (a + UInt32(byte)) % 65_521
        b = (b + a) % 65_521
    }
    return b << 16 | a
}
