import RaftZlib
import Testing

@Suite("CRC32")
struct CRC32Tests {
    /// The check value of the CRC-32/ISO-HDLC catalogue entry and other published values.
    @Test func knownVectors() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(CRC32().value == 0)
        #expect(CRC32.checksum(Array("a".utf8)) == 0xE8B7_BE43)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(CRC32.checksum([UInt8](repeating: 0, count: 32)) == 0x190A_55AD)
    }

    /// Feeding the bytes in pieces of any size gives the one-shot value.
    @Test(arguments: [1, 7, 4096, 65_537])
    func incrementalEqualsOneShot(chunkSize: Int) {
        let bytes = TestData.random(count: 300_000, seed: 21)
        let expected = CRC32.checksum(bytes)
        var crc = CRC32()
        for chunk in chunks(of: bytes, size: chunkSize) { crc.update(chunk) }
        #expect(crc.value == expected)
    }

    /// A stored value can be resumed; raw buffers and non-contiguous collections agree.
    @Test func resumeAndInputKinds() {
        let bytes = TestData.random(count: 10_000, seed: 22)
        let expected = CRC32.checksum(bytes)

        var first = CRC32()
        first.update(bytes[..<4_000])
        var resumed = CRC32(continuingFrom: first.value)
        resumed.update(bytes[4_000...])
        #expect(resumed.value == expected)

        #expect(bytes.withUnsafeBytes { CRC32.checksum($0) } == expected)
        #expect(CRC32.checksum(bytes.lazy.map { $0 }) == expected)
    }
}
