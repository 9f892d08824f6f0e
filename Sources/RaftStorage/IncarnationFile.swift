import Glibc
import RaftZlib

/// `<data-dir>/INCARNATION`: a random 64-bit number created with the data directory, the
/// member's incarnation. The cluster records it in the replicated configuration and refuses a
/// member that comes back with another one: its data directory was lost, and with it the votes
/// it cast, so it could vote twice in one term.
///
/// ```
/// offset  size  field (little-endian)
///      0     8  magic "RAFTINCN"
///      8     8  incarnation (never 0)
///     16     4  crc32 of bytes 0 ..< 16
/// ```
enum IncarnationFile {
    static let name = "INCARNATION"
    static let magic: [UInt8] = Array("RAFTINCN".utf8)
    static let size = 20

    /// Reads the directory's incarnation, creating it (durably) when the file does not exist:
    /// for a new directory, or one written before incarnations existed (`created` tells).
    static func load(directory: String, durable: Bool) throws(DiskStorageError) -> (incarnation: UInt64, created: Bool) {
        let path = directory + "/" + name
        if FileSystem.exists(path) {
            let file = try FileDescriptor.open(path, flags: O_RDONLY)
            let bytes = try file.readAll()
            return (try decode(bytes, path: path), false)
        }
        var incarnation: UInt64 = 0
        while incarnation == 0 { incarnation = UInt64.random(in: 1...UInt64.max) }
        var bytes = magic
        bytes.appendLE(incarnation)
        bytes.appendLE(CRC32.checksum(bytes))
        let temp = path + ".tmp"
        let file = try FileDescriptor.open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(bytes, at: 0)
        if durable { try file.sync() }
        try FileSystem.rename(temp, path)
        if durable { try FileSystem.syncDirectory(directory) }
        return (incarnation, true)
    }

    static func decode(_ bytes: [UInt8], path: String) throws(DiskStorageError) -> UInt64 {
        guard bytes.count == size, Array(bytes[0..<8]) == magic else {
            throw .corruptRecord(file: path, offset: 0, reason: "not an incarnation file (\(bytes.count) bytes)")
        }
        let stored = bytes.withUnsafeBytes { loadUInt32LE($0, 16) }
        guard stored == CRC32.checksum(bytes[0..<16]) else {
            throw .corruptRecord(file: path, offset: 16, reason: "crc32 mismatch")
        }
        let value = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        guard value != 0 else { throw .corruptRecord(file: path, offset: 8, reason: "incarnation 0") }
        return value
    }
}
