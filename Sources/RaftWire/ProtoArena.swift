import CRaftProto

/// Owns the C memory of one encode or decode: the protobuf-c structs built
/// for packing, the payload copies they point at, and everything unpack
/// allocates. Nothing allocated here outlives the arena's next `reset()`, so
/// no C pointer ever leaves the wire target.
final class ProtoArena {
    private let raw: OpaquePointer

    init(firstBlockSize: Int = 16 * 1024) {
        guard let arena = craft_arena_create(firstBlockSize) else {
            fatalError("craft_arena_create: out of memory")
        }
        raw = arena
    }

    deinit {
        craft_arena_destroy(raw)
    }

    /// Releases every allocation (keeps the first block).
    func reset() {
        craft_arena_reset(raw)
    }

    var reservedBytes: Int { craft_arena_reserved_bytes(raw) }

    /// An allocator for protobuf-c's unpack functions backed by this arena.
    var allocator: ProtobufCAllocator { craft_arena_allocator(raw) }

    /// Raw memory for `count` values of `T`, uninitialized.
    func allocate<T>(_: T.Type, count: Int = 1) throws -> UnsafeMutablePointer<T> {
        let bytes = MemoryLayout<T>.stride * count
        guard let memory = craft_arena_alloc(raw, bytes) else { throw WireError.outOfMemory(bytes: bytes) }
        return memory.bindMemory(to: T.self, capacity: count)
    }

    /// A C struct initialized by protobuf-c's generated `..._init` function.
    func message<T>(_: T.Type, _ initialize: (UnsafeMutablePointer<T>) -> Void) throws -> UnsafeMutablePointer<T> {
        let pointer = try allocate(T.self)
        initialize(pointer)
        return pointer
    }

    /// A copy of `bytes` that protobuf-c can point at while packing.
    func binary(_ bytes: [UInt8]) throws -> ProtobufCBinaryData {
        if bytes.isEmpty { return ProtobufCBinaryData(len: 0, data: nil) }
        let copy = try allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { copy.initialize(from: $0.baseAddress!, count: $0.count) }
        return ProtobufCBinaryData(len: bytes.count, data: copy)
    }

    /// A NUL-terminated copy of `string`.
    func cString(_ string: String) throws -> UnsafeMutablePointer<CChar> {
        var utf8 = Array(string.utf8)
        utf8.append(0)
        let copy = try allocate(CChar.self, count: utf8.count)
        utf8.withUnsafeBytes { source in
            UnsafeMutableRawPointer(copy).copyMemory(from: source.baseAddress!, byteCount: source.count)
        }
        return copy
    }
}

extension [UInt8] {
    /// Copies protobuf-c bytes into Swift; `len == 0` may come with a NULL pointer.
    init(_ binary: ProtobufCBinaryData) {
        guard binary.len > 0, let data = binary.data else {
            self = []
            return
        }
        self.init(UnsafeBufferPointer(start: data, count: binary.len))
    }
}

extension String {
    /// Decodes a protobuf-c string field (NULL is the empty string); invalid
    /// UTF-8 is repaired rather than trusted.
    init(protobufC pointer: UnsafeMutablePointer<CChar>?) {
        self = pointer.map { String(cString: $0) } ?? ""
    }
}
