import CZlib

/// Streaming compression to a zlib stream (RFC 1950: a 2-byte header, deflate data
/// (RFC 1951), and an Adler-32 trailer of the uncompressed bytes).
///
/// Snapshots are compressed as they are read, chunk by chunk, and never loaded whole:
/// call ``compress(_:into:)`` once per chunk, drain `output` whenever convenient (write it
/// out, then `removeAll(keepingCapacity: true)`), and end with ``finish(into:)``. Each call
/// appends only what zlib produced for that chunk, so `output` grows with the chunk, not
/// with the stream. ``flush(into:)`` forces out everything fed so far (a sync flush) when
/// a receiver must be able to decompress a prefix, at a small cost in ratio.
///
/// A final class because it owns zlib's state (a `z_stream` that must not move, and about
/// 256 KiB behind it) and frees it in `deinit`. It is not `Sendable`: one owner at a time,
/// which region-based isolation lets you hand to another task.
public final class ZlibDeflater {
    /// zlib's default level (`Z_DEFAULT_COMPRESSION`, currently the same as 6).
    public static let defaultLevel = -1

    private let memory: ZlibStreamMemory
    private var stream: UnsafeMutablePointer<z_stream> { memory.stream }
    private var scratch: UnsafeMutableBufferPointer<UInt8> { memory.scratch }
    /// The error that broke the stream, thrown again by every later call.
    private var failure: ZlibError?

    /// Whether ``finish(into:)`` has written the end of the stream.
    public private(set) var isFinished = false

    /// Uncompressed bytes fed so far.
    public private(set) var totalIn = 0

    /// Compressed bytes produced so far.
    public private(set) var totalOut = 0

    /// Starts a zlib stream.
    /// - Parameter level: `0` (stored, no compression) through `9` (smallest output), or
    ///   `-1` for zlib's default; `1` is the fast choice for snapshots on a busy node.
    /// - Throws: ``ZlibError/invalidLevel(_:)``, ``ZlibError/outOfMemory``.
    public init(level: Int = ZlibDeflater.defaultLevel) throws(ZlibError) {
        guard (-1...9).contains(level) else { throw .invalidLevel(level) }
        memory = try ZlibStreamMemory { czlib_deflate_init($0, Int32(level)) }
    }

    deinit {
        memory.release(deflateEnd)
    }

    /// Compresses `input`, appending to `output` whatever compressed bytes zlib emits now.
    /// zlib buffers input to find matches, so a small chunk may append nothing yet.
    public func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(ZlibError) {
        try checkUsable()
        guard !input.isEmpty else { return }
        try forEachZlibSlice(of: input) { (slice) throws(ZlibError) in
            stream.pointee.setInput(slice)
            defer { stream.pointee.clearInput() }
            _ = try run(flush: Z_NO_FLUSH, into: &output)
        }
        totalIn += input.count
    }

    /// Compresses `input`, appending to `output` whatever compressed bytes zlib emits now.
    /// Contiguous collections (`[UInt8]`, `ArraySlice<UInt8>`, `Data`) are not copied.
    public func compress(_ input: some Collection<UInt8>, into output: inout [UInt8]) throws(ZlibError) {
        try withContiguousBytes(input) { (bytes) throws(ZlibError) in
            try compress(bytes, into: &output)
        }
    }

    /// Appends everything compressed so far, ending on a byte boundary (`Z_SYNC_FLUSH`), so
    /// that a receiver can decompress all bytes fed up to now. The stream stays open.
    public func flush(into output: inout [UInt8]) throws(ZlibError) {
        try checkUsable()
        _ = try run(flush: Z_SYNC_FLUSH, into: &output)
    }

    /// Appends the rest of the stream (pending data, end marker, Adler-32 trailer).
    /// Afterwards the deflater only throws ``ZlibError/alreadyFinished``.
    public func finish(into output: inout [UInt8]) throws(ZlibError) {
        try checkUsable()
        let code = try run(flush: Z_FINISH, into: &output)
        guard code == Z_STREAM_END else {
            throw fail(.unexpected(code: code, message: "deflate did not reach the end of the stream"))
        }
        isFinished = true
    }

    /// Compresses `bytes` in one go into a complete zlib stream.
    public static func compress(_ bytes: some Collection<UInt8>, level: Int = defaultLevel) throws(ZlibError) -> [UInt8] {
        let deflater = try ZlibDeflater(level: level)
        var output: [UInt8] = []
        try deflater.compress(bytes, into: &output)
        try deflater.finish(into: &output)
        return output
    }

    private func checkUsable() throws(ZlibError) {
        if let failure { throw failure }
        if isFinished { throw .alreadyFinished }
    }

    /// Records the error that broke the stream and returns it for throwing.
    private func fail(_ error: ZlibError) -> ZlibError {
        failure = error
        return error
    }

    /// Calls `deflate` until it has consumed all input and, for a flush, written all it
    /// has: zlib's contract is to call again while it fills the whole output buffer.
    /// Returns the last return code (`Z_STREAM_END` once `Z_FINISH` completed).
    private func run(flush: Int32, into output: inout [UInt8]) throws(ZlibError) -> Int32 {
        while true {
            stream.pointee.next_out = scratch.baseAddress
            stream.pointee.avail_out = UInt32(scratch.count)
            let code = deflate(stream, flush)
            let produced = scratch.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<produced]))
                totalOut += produced
            }
            stream.pointee.next_out = nil
            stream.pointee.avail_out = 0
            switch code {
            case Z_STREAM_END:
                return code
            case Z_OK, Z_BUF_ERROR:
                // Z_BUF_ERROR only means "no progress possible", harmless with no input.
                let outputFull = produced == scratch.count
                if !outputFull && stream.pointee.avail_in == 0 && flush != Z_FINISH { return code }
                if !outputFull && code == Z_BUF_ERROR {
                    throw fail(.unexpected(code: code, message: "deflate made no progress"))
                }
            default:
                throw fail(ZlibError(code: code, stream: stream))
            }
        }
    }
}
