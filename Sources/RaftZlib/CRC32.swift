import CZlib

/// CRC-32 (the IEEE 802.3 / zlib / PNG polynomial), computed by zlib.
///
/// The storage layer frames log records and snapshot files with it, so it must match
/// what any other zlib, Python's `zlib.crc32` or Go's `hash/crc32` compute: it is zlib's
/// own `crc32`, fed incrementally.
///
/// ```swift
/// var crc = CRC32()
/// crc.update(header)
/// crc.update(payload)
/// crc.value == CRC32.checksum(header + payload)  // true
/// ```
public struct CRC32: Hashable, Sendable {
    /// The checksum of all bytes fed so far (`0` for none).
    public private(set) var value: UInt32

    /// A checksum of no bytes.
    public init() {
        value = 0
    }

    /// Resumes a checksum whose bytes so far gave `value`, e.g. one stored on disk.
    public init(continuingFrom value: UInt32) {
        self.value = value
    }

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        // crc32_z takes a size_t length (zlib >= 1.2.9), so no slicing is needed.
        value = UInt32(truncatingIfNeeded: crc32_z(UInt(value), base.assumingMemoryBound(to: Bytef.self), bytes.count))
    }

    /// Adds `bytes` to the checksum. Contiguous collections are not copied.
    public mutating func update(_ bytes: some Collection<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
