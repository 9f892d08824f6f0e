import Glibc
import RaftCore
import RaftMessages
import RaftWire
import RaftZlib

/// What a snapshot file says about itself (its header).
public struct SnapshotFileInfo: Sendable, Hashable {
    /// Last included index and term (§7) and the configuration as of that index.
    public var metadata: SnapshotMetadata
    /// Where the file is.
    public var path: String
    /// Bytes of the uncompressed state; nil when the data was stored as given (opaque bytes
    /// whose decompressed size the storage did not see).
    public var rawSize: UInt64?
    /// Bytes of the stored stream (the zlib stream, or the opaque bytes).
    public var compressedSize: UInt64
    /// crc32 of the stored stream.
    public var dataCRC: UInt32
    /// Bytes before the stream.
    public var headerSize: Int
    /// The snapshot came from a leader (InstallSnapshot) and replaces the log, rather than being
    /// taken of this node's own state machine. Recovery uses it to finish an install that a
    /// crash interrupted between the snapshot file and the log.
    public var installed: Bool
}

/// The snapshot file format: `<snap-dir>/<term>-<index>.snap`, each number as 16 hex digits.
///
/// ```
/// offset  size  field (little-endian)
///      0     8  magic "RAFTSNAP"
///      8     2  format version (2)
///     10     2  flags: bit 0 = raw size known, bit 1 = installed from a leader
///     12     4  header length H = 60 + L
///     16     8  last included index
///     24     8  last included term
///     32     8  raw size (0 when unknown)
///     40     8  compressed size C
///     48     4  crc32 of the C stream bytes
///     52     4  configuration length L
///     56     L  the configuration as of the last included index: a `raft.Configuration`
///               (proto/raft.proto), as InstallSnapshotRequest.configuration carries it
///   H - 4    4  crc32 of bytes 0 ..< H - 4
///      H     C  the zlib stream (RFC 1950), as sent in InstallSnapshot chunks
/// ```
///
/// Version 1 files (written before configurations were replicated) have, at 52, the number of
/// voters n and then n voter ids of 8 bytes (H = 60 + 8n); they are still read, as a
/// configuration of those voters without addresses.
enum SnapshotFormat {
    static let magic: [UInt8] = Array("RAFTSNAP".utf8)
    static let version: UInt16 = 2
    static let fixedHeaderSize = 60
    /// A configuration larger than this in a header reads as corruption.
    static let maxConfigurationBytes = 1 << 24

    static func fileName(term: UInt64, index: UInt64) -> String {
        hex16(term) + "-" + hex16(index) + ".snap"
    }

    /// (term, index) of a `.snap` file name, nil for other names.
    static func parseName(_ name: String) -> (term: UInt64, index: UInt64)? {
        guard name.hasSuffix(".snap") else { return nil }
        let parts = name.dropLast(5).split(separator: "-")
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
            let term = UInt64(parts[0], radix: 16), let index = UInt64(parts[1], radix: 16)
        else { return nil }
        return (term, index)
    }

    /// The encoded configuration of `metadata`, as the header stores it.
    static func encodedConfiguration(_ metadata: SnapshotMetadata) throws(DiskStorageError) -> [UInt8] {
        do {
            return try metadata.configuration.serializedBytes()
        } catch {
            throw .invalidArgument("cannot encode the snapshot's configuration: \(error)")
        }
    }

    static func encodeHeader(
        metadata: SnapshotMetadata, configuration: [UInt8], rawSize: UInt64?, compressedSize: UInt64, dataCRC: UInt32,
        installed: Bool
    ) -> [UInt8] {
        var b: [UInt8] = []
        b.append(contentsOf: magic)
        b.appendLE(version)
        b.appendLE(UInt16(rawSize == nil ? 0 : 1) | UInt16(installed ? 2 : 0))
        b.appendLE(UInt32(fixedHeaderSize + configuration.count))
        b.appendLE(metadata.index)
        b.appendLE(metadata.term)
        b.appendLE(rawSize ?? 0)
        b.appendLE(compressedSize)
        b.appendLE(dataCRC)
        b.appendLE(UInt32(configuration.count))
        b.append(contentsOf: configuration)
        b.appendLE(CRC32.checksum(b))
        return b
    }

    /// Reads and checks the header of an open snapshot file (not the data).
    static func readHeader(_ file: FileDescriptor) throws(DiskStorageError) -> SnapshotFileInfo {
        let path = file.path
        func corrupt(_ offset: Int, _ reason: String) -> DiskStorageError {
            .corruptSnapshot(file: path, offset: offset, reason: reason)
        }
        let fileSize = try file.size()
        var fixed = [UInt8](repeating: 0, count: fixedHeaderSize)
        let got = try fixed.withMutableBytes { (raw) throws(DiskStorageError) in try file.read(into: raw, at: 0) }
        guard got == fixedHeaderSize else { throw corrupt(got, "file of \(fileSize) bytes is shorter than a snapshot header") }
        guard Array(fixed[0..<8]) == magic else { throw corrupt(0, "bad magic (not a snapshot file)") }
        return try fixed.withBytes { (raw) throws(DiskStorageError) in
            var r = ByteReader(raw, position: 8)
            let version = r.read(UInt16.self)!
            guard version == 1 || version == self.version else { throw corrupt(8, "unsupported format version \(version)") }
            let flags = r.read(UInt16.self)!
            guard flags <= 3 else { throw corrupt(10, "unknown flags \(flags)") }
            let headerLength = Int(r.read(UInt32.self)!)
            let index = r.read(UInt64.self)!
            let term = r.read(UInt64.self)!
            let rawSize = r.read(UInt64.self)!
            let compressedSize = r.read(UInt64.self)!
            let dataCRC = r.read(UInt32.self)!
            // Version 2: the configuration's length; version 1: the number of 8-byte voter ids.
            let count = Int(r.read(UInt32.self)!)
            let variableBytes = version == 1 ? 8 * count : count
            guard count <= maxConfigurationBytes, headerLength == fixedHeaderSize + variableBytes else {
                throw corrupt(12, "header length \(headerLength) does not match its \(variableBytes)-byte configuration")
            }
            guard headerLength <= fileSize else {
                throw corrupt(fileSize, "file of \(fileSize) bytes is shorter than its \(headerLength)-byte header")
            }
            var header = [UInt8](repeating: 0, count: headerLength)
            _ = try header.withMutableBytes { (raw) throws(DiskStorageError) in try file.read(into: raw, at: 0) }
            let stored = header.withUnsafeBytes { loadUInt32LE($0, headerLength - 4) }
            let computed = CRC32.checksum(header[0..<(headerLength - 4)])
            guard stored == computed else {
                throw corrupt(headerLength - 4, "header crc32 mismatch (stored \(hex(stored)), computed \(hex(computed)))")
            }
            let configuration: Configuration
            if version == 1 {
                configuration = Configuration(
                    voterIDs: header.withUnsafeBytes { raw in
                        (0..<count).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 56 + 8 * $0, as: UInt64.self)) }
                    })
            } else {
                do {
                    configuration = try Configuration(serializedBytes: header[56..<(56 + count)])
                } catch {
                    throw corrupt(56, "the configuration does not decode: \(error)")
                }
            }
            guard UInt64(fileSize - headerLength) == compressedSize else {
                throw corrupt(fileSize, "file holds \(fileSize - headerLength) data bytes, header says \(compressedSize)")
            }
            return SnapshotFileInfo(
                metadata: SnapshotMetadata(index: index, term: term, configuration: configuration), path: path,
                rawSize: flags & 1 == 1 ? rawSize : nil, compressedSize: compressedSize, dataCRC: dataCRC,
                headerSize: headerLength, installed: flags & 2 == 2)
        }
    }
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

/// Writes one snapshot file: the stream goes to `<name>.tmp` as it comes, then `finish()` writes
/// the header, fsyncs, renames into place and fsyncs the directory. Until `finish()` returns,
/// nothing a reader or a restart would see has changed.
///
/// In the default mode the caller hands over the raw state machine bytes chunk by chunk and they
/// are zlib-compressed on the way (never held whole); with `precompressed` the caller hands over
/// an existing stream (a snapshot received from the leader) and it is stored as given.
public final class SnapshotWriter {
    public let metadata: SnapshotMetadata
    /// The final path of the file.
    public let path: String
    private let tempPath: String
    private let directory: String
    private let file: FileDescriptor
    private let deflater: ZlibDeflater?
    private let headerSize: Int
    private var offset: Int
    private var crc = CRC32()
    private var rawSize: UInt64 = 0
    private var pending: [UInt8] = []
    private var done = false
    /// Set by ``seal()``.
    private var sealedInfo: SnapshotFileInfo?
    private let durable: Bool
    private let installed: Bool
    private let configuration: [UInt8]

    /// Bytes buffered before a `pwrite`.
    private static let flushThreshold = 1 << 20

    /// Starts a snapshot file in `directory`.
    /// - Parameters:
    ///   - compressionLevel: zlib level for raw input (1 is fast, the default); ignored when
    ///     `precompressed`.
    ///   - precompressed: the input is already the stream to store.
    ///   - installed: the snapshot is a leader's, replacing the log (see ``SnapshotFileInfo/installed``).
    ///   - durable: false skips the fsyncs (`DiskStorageOptions.unsafeNoFsync`; tests only).
    public init(
        directory: String, metadata: SnapshotMetadata, compressionLevel: Int = 1, precompressed: Bool = false,
        installed: Bool = false, durable: Bool = true
    ) throws(DiskStorageError) {
        self.durable = durable
        self.installed = installed
        self.metadata = metadata
        self.directory = directory
        self.path = directory + "/" + SnapshotFormat.fileName(term: metadata.term, index: metadata.index)
        self.tempPath = path + ".tmp"
        self.configuration = try SnapshotFormat.encodedConfiguration(metadata)
        self.headerSize = SnapshotFormat.fixedHeaderSize + configuration.count
        self.offset = headerSize
        if precompressed {
            deflater = nil
        } else {
            do {
                deflater = try ZlibDeflater(level: compressionLevel)
            } catch {
                throw .invalidArgument("zlib: \(error)")
            }
        }
        file = try FileDescriptor.open(tempPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
        pending.reserveCapacity(Self.flushThreshold + 64 * 1024)
    }

    deinit {
        if !done { unlink(tempPath) }
    }

    /// Adds the next chunk (raw state, or stream bytes when `precompressed`).
    public func write(_ chunk: UnsafeRawBufferPointer) throws(DiskStorageError) {
        guard !done, sealedInfo == nil else { throw .invalidArgument("snapshot writer already finished") }
        if let deflater {
            rawSize += UInt64(chunk.count)
            do {
                try deflater.compress(chunk, into: &pending)
            } catch {
                throw .invalidArgument("zlib: \(error)")
            }
        } else if chunk.count >= Self.flushThreshold {
            // A large piece of an existing stream goes straight to the file, not through `pending`.
            try flushPending()
            crc.update(chunk)
            try file.write(chunk, at: offset)
            offset += chunk.count
        } else {
            pending.append(contentsOf: chunk)
        }
        if pending.count >= Self.flushThreshold { try flushPending() }
    }

    /// Adds the next chunk. Contiguous collections are not copied.
    public func write(_ chunk: some Collection<UInt8>) throws(DiskStorageError) {
        let result: Result<Void, DiskStorageError>? = chunk.withContiguousStorageIfAvailable { buffer in
            Result { () throws(DiskStorageError) in try write(UnsafeRawBufferPointer(buffer)) }
        }
        if let result { try result.get() } else { try write(Array(chunk)) }
    }

    /// Raw bytes written so far (the input, when `precompressed`).
    public var rawBytes: Int { deflater == nil ? compressedBytes : Int(rawSize) }

    /// Bytes of the stored stream so far.
    public var compressedBytes: Int { offset - headerSize + pending.count }

    /// Ends the stream, writes the header and makes the temporary file durable: everything but
    /// the rename, so that it can run on a background thread and leave ``finish()`` only the
    /// rename to do. Later writes throw.
    public func seal() throws(DiskStorageError) {
        guard !done else { throw .invalidArgument("snapshot writer already finished") }
        guard sealedInfo == nil else { return }
        if let deflater {
            do {
                try deflater.finish(into: &pending)
            } catch {
                throw .invalidArgument("zlib: \(error)")
            }
        }
        try flushPending()
        let compressedSize = UInt64(offset - headerSize)
        let rawSize: UInt64? = deflater == nil ? nil : self.rawSize
        let header = SnapshotFormat.encodeHeader(
            metadata: metadata, configuration: configuration, rawSize: rawSize, compressedSize: compressedSize,
            dataCRC: crc.value, installed: installed)
        try file.write(header, at: 0)
        if durable {
            Failpoint.snapshotFsync.hit()
            try file.sync()
        }
        sealedInfo = SnapshotFileInfo(
            metadata: metadata, path: path, rawSize: rawSize, compressedSize: compressedSize, dataCRC: crc.value,
            headerSize: headerSize, installed: installed)
    }

    /// Ends the stream (``seal()``, unless done already) and makes the file durable under its
    /// final name.
    @discardableResult
    public func finish() throws(DiskStorageError) -> SnapshotFileInfo {
        guard !done else { throw .invalidArgument("snapshot writer already finished") }
        try seal()
        guard let info = sealedInfo else { throw .invalidArgument("snapshot writer not sealed") }
        try FileSystem.rename(tempPath, path)
        done = true
        if durable { try FileSystem.syncDirectory(directory) }
        return info
    }

    /// Gives up: the temporary file is removed.
    public func abort() {
        guard !done else { return }
        done = true
        unlink(tempPath)
    }

    private func flushPending() throws(DiskStorageError) {
        guard !pending.isEmpty else { return }
        crc.update(pending)
        try file.write(pending, at: offset)
        offset += pending.count
        pending.removeAll(keepingCapacity: true)
    }
}

/// Reads one snapshot file chunk by chunk: decompressed (``nextRawChunk()``) or as the stored
/// stream (``nextStreamChunk(maxBytes:)``, what InstallSnapshot sends). The crc32 of the stream
/// is checked when its end is reached, and zlib checks its own Adler-32 of the raw bytes; any
/// mismatch throws ``DiskStorageError/corruptSnapshot(file:offset:reason:)``. Bytes handed out
/// before an error must be discarded.
public final class SnapshotReader {
    public let info: SnapshotFileInfo
    private let file: FileDescriptor
    private var offset: Int
    private var crc = CRC32()
    private var inflater: ZlibInflater?
    private var input: [UInt8]
    private var finished = false

    /// Compressed bytes read per step of ``nextRawChunk()``; a chunk it returns holds what they
    /// expand to (about 4x for typical state, at most about 1000x).
    public static let rawStepInput = 64 * 1024

    /// Opens `path` and checks its header.
    public init(path: String) throws(DiskStorageError) {
        file = try FileDescriptor.open(path, flags: O_RDONLY)
        info = try SnapshotFormat.readHeader(file)
        offset = info.headerSize
        input = [UInt8](repeating: 0, count: Self.rawStepInput)
    }

    private var end: Int { info.headerSize + Int(info.compressedSize) }

    /// The next up to `maxBytes` bytes of the stored stream, nil at its end (after checking the crc).
    public func nextStreamChunk(maxBytes: Int = 1 << 20) throws(DiskStorageError) -> [UInt8]? {
        precondition(maxBytes > 0)
        let count = min(maxBytes, end - offset)
        if count == 0 {
            try checkCRC()
            return nil
        }
        var chunk = [UInt8](repeating: 0, count: count)
        let got = try chunk.withMutableBytes { (raw) throws(DiskStorageError) in try file.read(into: raw, at: offset) }
        guard got == count else { throw .corruptSnapshot(file: info.path, offset: offset + got, reason: "file ends early") }
        crc.update(chunk)
        offset += count
        return chunk
    }

    /// The next decompressed bytes (never empty), nil at the end of the state (after checking the
    /// crc, the zlib trailer and the raw size).
    public func nextRawChunk() throws(DiskStorageError) -> [UInt8]? {
        var output: [UInt8] = []
        return try nextRawChunk(into: &output) ? output : nil
    }

    /// As ``nextRawChunk()``, into `output` (replacing what it held; its storage is reused, which
    /// spares a reader of a large snapshot a fresh allocation per chunk). False at the end.
    public func nextRawChunk(into output: inout [UInt8]) throws(DiskStorageError) -> Bool {
        output.removeAll(keepingCapacity: true)
        if inflater == nil {
            do {
                inflater = try ZlibInflater()
            } catch {
                throw .snapshotZlib(error, file: info.path, offset: offset)
            }
        }
        let inflater = inflater!
        while output.isEmpty {
            let count = min(input.count, end - offset)
            if count == 0 {
                do {
                    try inflater.finish()
                } catch {
                    throw .snapshotZlib(error, file: info.path, offset: offset)
                }
                try checkCRC()
                if let rawSize = info.rawSize, rawSize != UInt64(inflater.totalOut) {
                    throw .corruptSnapshot(
                        file: info.path, offset: 32, reason: "header says \(rawSize) raw bytes, stream holds \(inflater.totalOut)")
                }
                return false
            }
            let got = try input.withMutableBytes { (raw) throws(DiskStorageError) in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), at: offset)
            }
            guard got == count else { throw .corruptSnapshot(file: info.path, offset: offset + got, reason: "file ends early") }
            let chunkOffset = offset
            offset += count
            do {
                try input.withBytes { (raw) throws(ZlibError) in
                    let slice = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                    crc.update(slice)
                    try inflater.decompress(slice, into: &output)
                }
            } catch {
                throw .snapshotZlib(error, file: info.path, offset: chunkOffset)
            }
        }
        return true
    }

    /// Bytes `offset ..< offset + count` of the stored stream, read where they are (a chunk to
    /// send; the sequential reads above are the ones that check the crc).
    public func streamBytes(at offset: Int, count: Int) throws(DiskStorageError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset + count <= Int(info.compressedSize) else {
            throw .invalidArgument("bytes \(offset)..<\(offset + count) are outside the \(info.compressedSize)-byte stream")
        }
        var chunk = [UInt8](repeating: 0, count: count)
        let position = info.headerSize + offset
        let got = try chunk.withMutableBytes { (raw) throws(DiskStorageError) in try file.read(into: raw, at: position) }
        guard got == count else { throw .corruptSnapshot(file: info.path, offset: position + got, reason: "file ends early") }
        return chunk
    }

    /// Reads the rest of the stream only to check its crc32.
    public func verify() throws(DiskStorageError) {
        while try nextStreamChunk() != nil {}
    }

    private func checkCRC() throws(DiskStorageError) {
        guard !finished else { return }
        finished = true
        guard crc.value == info.dataCRC else {
            throw .corruptSnapshot(
                file: info.path, offset: info.headerSize,
                reason: "data crc32 mismatch (header \(hex(info.dataCRC)), data \(hex(crc.value)))")
        }
    }

    /// The whole stored stream of `path`, checked against its crc (for `Storage.snapshot()`).
    public static func readStream(path: String) throws(DiskStorageError) -> (info: SnapshotFileInfo, stream: [UInt8]) {
        let reader = try SnapshotReader(path: path)
        let stream = try reader.nextStreamChunk(maxBytes: max(1, Int(reader.info.compressedSize))) ?? []
        guard try reader.nextStreamChunk() == nil else {
            throw .corruptSnapshot(file: path, offset: reader.offset, reason: "stream longer than its header says")
        }
        return (reader.info, stream)
    }
}
