import CRaftProto

/// A Swift value with a protobuf-c twin: how to build the C struct for
/// packing, and how to read one back after unpacking. Implemented only inside
/// the wire target, for the top-level messages that travel in frames.
protocol ProtobufCConvertible {
    associatedtype CMessage

    /// Builds the C struct in `arena` (payloads copied into the arena).
    func makeCMessage(in arena: ProtoArena) throws -> UnsafeMutablePointer<CMessage>

    /// Reads the Swift value out of an unpacked C struct.
    init(cMessage: UnsafePointer<CMessage>) throws

    /// The generated `..._get_packed_size` / `..._pack` / `..._unpack`.
    static func packedSize(_ message: UnsafePointer<CMessage>) -> Int
    static func pack(_ message: UnsafePointer<CMessage>, _ out: UnsafeMutablePointer<UInt8>) -> Int
    static func unpack(
        _ allocator: UnsafeMutablePointer<ProtobufCAllocator>, _ count: Int, _ bytes: UnsafePointer<UInt8>
    ) -> UnsafeMutablePointer<CMessage>?

    /// Full protobuf name, for errors ("raft.Envelope").
    static var protoName: String { get }
}

/// The base of every protobuf-c message struct is its first member.
func protobufCBase<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<ProtobufCMessage> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: ProtobufCMessage.self)
}

/// Maps a protobuf enum number onto a Swift enum, or names the field that held
/// an unknown number (proto3 enums are open: any int32 may arrive).
func decodeEnum<E: RawRepresentable>(_: E.Type, _ raw: some BinaryInteger, field: String) throws -> E
where E.RawValue == Int32 {
    guard let value = Int32(exactly: raw), let decoded = E(rawValue: value) else {
        throw WireError.unknownEnumValue(field: field, value: Int64(truncatingIfNeeded: raw))
    }
    return decoded
}
