/// Why bytes could not be turned into a message. Every decoding failure of
/// the wire target is one of these: bad input is an error, never a crash.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// libprotobuf-c rejected the bytes as `message` (truncated, wrong wire
    /// type, bad varint, length past the end, ...).
    case malformed(message: String, byteCount: Int)
    /// A known field held an enum number this build does not know.
    case unknownEnumValue(field: String, value: Int64)
    /// Memory for the C structures could not be had.
    case outOfMemory(bytes: Int)

    public var description: String {
        switch self {
        case .malformed(let message, let byteCount):
            "malformed \(message): \(byteCount) bytes do not parse"
        case .unknownEnumValue(let field, let value):
            "unknown value \(value) for enum field \(field)"
        case .outOfMemory(let bytes):
            "out of memory allocating \(bytes) bytes for protobuf-c structures"
        }
    }
}

/// Why a frame of the length-prefixed framing (see proto/raft.proto) is bad.
/// Each one closes the connection it arrived on.
public enum FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A frame announced length 0; no message is empty on this protocol.
    case zeroLength
    /// A frame announced more bytes than the receiver accepts.
    case tooLarge(length: UInt32, maximum: UInt32)
    /// The connection ended inside a frame: `received` of `expected` bytes
    /// (prefix included) had arrived.
    case truncated(expected: Int, received: Int)

    public var description: String {
        switch self {
        case .zeroLength:
            "frame of length 0"
        case .tooLarge(let length, let maximum):
            "frame of \(length) bytes exceeds the maximum of \(maximum)"
        case .truncated(let expected, let received):
            "connection closed inside a frame: \(received) of \(expected) bytes"
        }
    }
}
