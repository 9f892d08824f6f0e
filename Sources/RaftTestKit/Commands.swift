/// Commands as the tester's services see them: Go's `interface{}` values become byte strings.
/// An `Int` command is its 8 little-endian bytes; other commands (e.g. RPCBytes2B's 5000-byte
/// strings) are their raw bytes.
public enum Command {
    public static func int(_ value: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(bitPattern: Int64(value)).littleEndian) { Array($0) }
    }

    public static func intValue(_ bytes: [UInt8]) -> Int? {
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return Int(Int64(bitPattern: value))
    }

    public static func describe(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "nil" }
        if let value = intValue(bytes) { return String(value) }
        return "<\(bytes.count) bytes>"
    }
}

/// The tester's snapshot format: the last included index and every command through it
/// (6.824's `Encode(index); Encode(xlog)`).
enum SnapshotCodec {
    static func encode(index: UInt64, log: [UInt64: [UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        func put(_ value: UInt64) {
            var v = value
            repeat {
                var byte = UInt8(v & 0x7F)
                v >>= 7
                if v != 0 { byte |= 0x80 }
                out.append(byte)
            } while v != 0
        }
        put(index)
        if index > 0 {
            for i in 1...index {
                let command = log[i] ?? []
                put(UInt64(command.count))
                out.append(contentsOf: command)
            }
        }
        return out
    }

    static func decode(_ data: [UInt8]) -> (index: UInt64, log: [UInt64: [UInt8]])? {
        var pos = 0
        func get() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while pos < data.count {
                let byte = data[pos]
                pos += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }
        // Corrupt input must decode to nil, never trap: lengths are checked before use.
        guard let index = get(), index <= UInt64(data.count) else { return nil }
        var log: [UInt64: [UInt8]] = [:]
        if index > 0 {
            for i in 1...index {
                guard let count = get(), count <= UInt64(data.count - pos) else { return nil }
                log[i] = Array(data[pos..<pos + Int(count)])
                pos += Int(count)
            }
        }
        return pos == data.count ? (index, log) : nil
    }
}
