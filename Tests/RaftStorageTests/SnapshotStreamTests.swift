import Foundation
import RaftCore
import RaftZlib
import RaftMessages
import Testing

@testable import RaftStorage

/// Snapshots are compressed and written chunk by chunk, and read back the same way.
@Suite struct SnapshotStreamTests {
    /// Deterministic, moderately compressible state (letters of a 16-letter alphabet): chunk `i`.
    static func chunk(_ i: Int, size: Int) -> [UInt8] {
        var rng = TestRandom(seed: UInt64(i) &+ 1)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { raw in
            for k in 0..<(size / 8) {
                let word = (rng.next() & 0x0F0F_0F0F_0F0F_0F0F) | 0x6060_6060_6060_6060
                raw.storeBytes(of: word, toByteOffset: k * 8, as: UInt64.self)
            }
        }
        return bytes
    }

    @Test func sixtyFourMiBRoundTripInChunks() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let chunkSize = 1 << 20
        let chunks = 64
        let meta = SnapshotMetadata(index: 1000, term: 7, configuration: Configuration(voterIDs: [1, 2, 3]))
        let writer = try SnapshotWriter(directory: dir.path, metadata: meta, unsafeTestDurable: false)
        for i in 0..<chunks { try writer.write(Self.chunk(i, size: chunkSize)) }
        let info = try writer.finish()
        #expect(info.rawSize == UInt64(chunks * chunkSize))
        #expect(info.compressedSize < info.rawSize! / 4 * 3)
        #expect(info.path == dir.path + "/0000000000000007-00000000000003e8.snap")
        #expect(!FileManager.default.fileExists(atPath: info.path + ".tmp"))

        // Read back chunk by chunk and compare against the regenerated state as it streams.
        let reader = try SnapshotReader(path: info.path)
        #expect(reader.info == info)
        var expected: [UInt8] = []
        var expectedOffset = 0
        var next = 0
        var total = 0
        while let raw = try reader.nextRawChunk() {
            var k = 0
            while k < raw.count {
                if expectedOffset == expected.count {
                    expected = Self.chunk(next, size: chunkSize)
                    expectedOffset = 0
                    next += 1
                }
                let n = min(expected.count - expectedOffset, raw.count - k)
                let same = raw.withUnsafeBytes { a in
                    expected.withUnsafeBytes { b in memcmp(a.baseAddress! + k, b.baseAddress! + expectedOffset, n) == 0 }
                }
                if !same {
                    Issue.record("mismatch in raw bytes at \(total + k)")
                    return
                }
                expectedOffset += n
                k += n
            }
            total += raw.count
        }
        #expect(total == chunks * chunkSize)
        #expect(expectedOffset == chunkSize && next == chunks)

        // The stored stream is a plain zlib stream (what InstallSnapshot carries).
        let (streamInfo, stream) = try SnapshotReader.readStream(path: info.path)
        #expect(streamInfo == info && UInt64(stream.count) == info.compressedSize)
        let inflater = try ZlibInflater()
        var firstBytes: [UInt8] = []
        try inflater.decompress(stream.prefix(1000), into: &firstBytes)
        #expect(firstBytes.elementsEqual(Self.chunk(0, size: chunkSize).prefix(firstBytes.count)))
    }

    @Test func corruptCompressedByteIsAnError() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let meta = SnapshotMetadata(index: 5, term: 1, configuration: Configuration(voterIDs: [1]))
        let writer = try SnapshotWriter(directory: dir.path, metadata: meta, unsafeTestDurable: false)
        for i in 0..<4 { try writer.write(Self.chunk(i, size: 256 * 1024)) }
        let info = try writer.finish()
        let good = try readFile(info.path)
        for offset in [info.headerSize + 2, info.headerSize + Int(info.compressedSize) / 2, good.count - 2] {
            var bytes = good
            bytes[offset] ^= 0x20
            try writeFile(info.path, bytes)
            let reader = try SnapshotReader(path: info.path)
            let error = #expect(throws: DiskStorageError.self, "byte \(offset)") {
                while try reader.nextRawChunk() != nil {}
            }
            guard case .corruptSnapshot(let file, _, _)? = error else {
                Issue.record("byte \(offset): \(String(describing: error))")
                continue
            }
            #expect(file == info.path)
            // The stream-level check (what open and snapshot() use) catches it too.
            #expect(throws: DiskStorageError.self) { try SnapshotReader(path: info.path).verify() }
        }
    }

    @Test func abortedWriterLeavesNothing() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        do {
            let writer = try SnapshotWriter(directory: dir.path, metadata: SnapshotMetadata(index: 1, term: 1), unsafeTestDurable: false)
            try writer.write([1, 2, 3])
            writer.abort()
        }
        do {
            // Dropped without finish(): same.
            let writer = try SnapshotWriter(directory: dir.path, metadata: SnapshotMetadata(index: 2, term: 1), unsafeTestDurable: false)
            try writer.write([1, 2, 3])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

extension SnapshotWriter {
    /// Raw-state writer without fsync (the tests check the format, not durability).
    convenience init(directory: String, metadata: SnapshotMetadata, unsafeTestDurable durable: Bool) throws {
        try self.init(directory: directory, metadata: metadata, compressionLevel: 1, precompressed: false, durable: durable)
    }
}

/// Snapshot files carry the configuration as of their index (version 2 of the format), and
/// files written before configurations were replicated (version 1: voter ids only) still read.
@Suite struct SnapshotConfigurationTests {
    @Test func theConfigurationRoundTripsThroughTheFile() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let configuration = Configuration(
            voters: [Member(id: 1, peerAddress: "a:1", clientAddress: "a:2", incarnation: 9), Member(id: 4, peerAddress: "d:1")],
            learners: [Member(id: 5, peerAddress: "e:1")], outgoingVoters: [Member(id: 1, peerAddress: "a:1")], autoLeave: true,
            removedIDs: [2, 3])
        let meta = SnapshotMetadata(index: 42, term: 3, configuration: configuration)
        let writer = try SnapshotWriter(directory: dir.path, metadata: meta, precompressed: true, durable: false)
        try writer.write([1, 2, 3])
        let info = try writer.finish()
        #expect(try SnapshotReader(path: info.path).info.metadata == meta)
    }

    @Test func aVersionOneFileReadsAsItsVotersWithoutAddresses() throws {
        let dir = TempDirectory()
        defer { dir.cleanup() }
        let stream: [UInt8] = [7, 7, 7]
        var header: [UInt8] = Array("RAFTSNAP".utf8)
        header.appendLE(UInt16(1))  // version
        header.appendLE(UInt16(0))  // flags
        header.appendLE(UInt32(60 + 8 * 3))
        header.appendLE(UInt64(10))  // index
        header.appendLE(UInt64(2))  // term
        header.appendLE(UInt64(0))  // raw size
        header.appendLE(UInt64(stream.count))
        header.appendLE(CRC32.checksum(stream))
        header.appendLE(UInt32(3))
        for voter: UInt64 in [1, 2, 3] { header.appendLE(voter) }
        header.appendLE(CRC32.checksum(header))
        let path = dir.path + "/" + SnapshotFormat.fileName(term: 2, index: 10)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(header + stream)))
        let reader = try SnapshotReader(path: path)
        #expect(reader.info.metadata == SnapshotMetadata(index: 10, term: 2, configuration: Configuration(voterIDs: [1, 2, 3])))
        #expect(try reader.nextStreamChunk() == stream)
    }
}
