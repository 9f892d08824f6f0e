import RaftZlib
import Testing

/// Agreement with a zlib we did not write or link: Python's `zlib` module, run through
/// `/usr/bin/python3`. Each script reads `sys.argv[1]` and writes `sys.argv[2]`.
@Suite("Interop with Python's zlib")
struct PythonInteropTests {
    static let kv = TestData.kvRecords(count: 1 << 20, seed: 31)
    static let random = TestData.random(count: 256 * 1024, seed: 32)

    /// Streams we write — at several levels, fed in small and large chunks, with a sync
    /// flush in the middle — decompress in Python to the same bytes.
    @Test(arguments: [0, 1, 6, 9], [7, 64 * 1024])
    func ourStreamsDecompressInPython(level: Int, chunkSize: Int) throws {
        let input = Self.kv + Self.random
        let deflater = try ZlibDeflater(level: level)
        var stream: [UInt8] = []
        let middle = input.count / 2
        for chunk in chunks(of: input[..<middle], size: chunkSize) { try deflater.compress(chunk, into: &stream) }
        try deflater.flush(into: &stream)
        for chunk in chunks(of: input[middle...], size: chunkSize) { try deflater.compress(chunk, into: &stream) }
        try deflater.finish(into: &stream)

        let output = try python("""
            import sys, zlib
            data = open(sys.argv[1], 'rb').read()
            d = zlib.decompressobj()
            out = d.decompress(data) + d.flush()
            assert d.eof and not d.unused_data, 'stream did not end exactly'
            open(sys.argv[2], 'wb').write(out)
            """, input: stream)
        #expect(output.count == input.count)
        #expect(output == input)
    }

    /// `zlib.compress` at levels 0, 1 and 9 decompresses with ours, whole and fed one
    /// byte / 7 bytes / 64 KiB at a time.
    @Test(arguments: [0, 1, 9])
    func pythonStreamsDecompressInOurs(level: Int) throws {
        let input = Self.kv + Self.random
        let stream = try python("""
            import sys, zlib
            open(sys.argv[2], 'wb').write(zlib.compress(open(sys.argv[1], 'rb').read(), \(level)))
            """, input: input)
        for chunkSize in [1, 7, 64 * 1024, stream.count] {
            #expect(try streamDecompress(stream, chunkSize: chunkSize) == input, "chunks of \(chunkSize)")
        }
    }

    /// A `zlib.compressobj` stream written in pieces of varying size with no flush, sync
    /// flushes and full flushes between them decompresses with ours.
    @Test func pythonCompressobjFlushedInPieces() throws {
        let input = Self.kv
        let stream = try python("""
            import sys, zlib
            data = open(sys.argv[1], 'rb').read()
            c = zlib.compressobj(6)
            modes = [zlib.Z_NO_FLUSH, zlib.Z_SYNC_FLUSH, zlib.Z_FULL_FLUSH]
            out, pos, i = [], 0, 0
            while pos < len(data):
                n = [1, 100, 4096, 65536, 7][i % 5]
                out.append(c.compress(data[pos:pos + n]))
                mode = modes[i % 3]
                if mode != zlib.Z_NO_FLUSH:
                    out.append(c.flush(mode))
                pos, i = pos + n, i + 1
            out.append(c.flush())
            open(sys.argv[2], 'wb').write(b''.join(out))
            """, input: input)
        for chunkSize in [1, 7, 64 * 1024] {
            #expect(try streamDecompress(stream, chunkSize: chunkSize) == input, "chunks of \(chunkSize)")
        }
    }

    /// A Python stream written with a preset dictionary is refused, not misread.
    @Test func pythonDictionaryStreamIsRefused() throws {
        let stream = try python("""
            import sys, zlib
            c = zlib.compressobj(6, zdict=b'put key- = alpha bravo')
            open(sys.argv[2], 'wb').write(c.compress(b'put key-1 = alpha') + c.flush())
            """)
        #expect(throws: ZlibError.dictionaryRequired) { try ZlibInflater.decompress(stream) }
    }

    /// Flipping each bit of a stream, Python's zlib and ours agree on every outcome:
    /// rejected, accepted as the original, or accepted as different bytes (an Adler-32
    /// collision). So the rare silent corruption the bad-input suite tolerates is a
    /// property of the zlib format, and ours rejects everything reference zlib rejects.
    @Test(arguments: [1, 9])
    func flippedBitOutcomesMatchPython(level: Int) throws {
        let original = BadInputTests.sample
        let stream = try ZlibDeflater.compress(original, level: level)
        let theirs = try python("""
            import sys, zlib
            s = open(sys.argv[1], 'rb').read()
            original = zlib.decompress(s)
            out = bytearray()
            for bit in range(len(s) * 8):
                d = bytearray(s)
                d[bit // 8] ^= 1 << (bit % 8)
                try:
                    out.append(1 if zlib.decompress(bytes(d)) == original else 2)
                except zlib.error:
                    out.append(0)
            open(sys.argv[2], 'wb').write(out)
            """, input: stream)
        var ours = [UInt8]()
        for bit in 0..<(stream.count * 8) {
            var damaged = stream
            damaged[bit / 8] ^= UInt8(1) << (bit % 8)
            switch Result(catching: { () throws(ZlibError) in try ZlibInflater.decompress(damaged) }) {
            case .success(let output): ours.append(output == original ? 1 : 2)
            case .failure: ours.append(0)
            }
        }
        #expect(ours == theirs)
    }

    /// Our CRC32 equals `zlib.crc32` on random data of several lengths.
    @Test func crc32MatchesPython() throws {
        let bytes = TestData.random(count: 1 << 20, seed: 33)
        let lengths = [0, 1, 3, 1_000, 65_537, 1 << 20]
        let packed = try python("""
            import struct, sys, zlib
            data = open(sys.argv[1], 'rb').read()
            lengths = \(lengths)
            open(sys.argv[2], 'wb').write(b''.join(struct.pack('<I', zlib.crc32(data[:n])) for n in lengths))
            """, input: bytes)
        #expect(packed.count == lengths.count * 4)
        for (i, length) in lengths.enumerated() {
            let theirs = packed[(i * 4)..<(i * 4 + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(CRC32.checksum(bytes[..<length]) == theirs, "length \(length)")
        }
    }
}
