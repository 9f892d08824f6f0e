import CZlib

/// Streaming decompression of one zlib stream (RFC 1950), fed chunk by chunk as the bytes
/// arrive from disk or from a peer.
///
/// Call ``decompress(_:into:)`` per chunk (any sizes, down to one byte), drain `output` as
/// you go, and call ``finish()`` when the input ends: it throws
/// ``ZlibError/truncatedStream`` if the stream's end was never seen. ``isFinished`` turns
/// true as soon as the end marker and a matching Adler-32 trailer have been read; bytes
/// after that are ``ZlibError/trailingData``.
///
/// Input from a peer is untrusted: ``maxOutputBytes`` bounds the total decompressed size
/// (decompression bombs), and zlib writes at most 64 KiB per call into a buffer of ours
/// before it is appended, so the limit is checked before the bytes reach `output`.
///
/// On any error the bytes appended so far must be discarded: a corrupt stream is only
/// known to be corrupt at the point zlib notices (at the latest, the checksum at the end).
///
/// A final class because it owns zlib's state and frees it in `deinit`; not `Sendable`.
public final class ZlibInflater {
    /// The largest total number of decompressed bytes this inflater will produce.
    public let maxOutputBytes: Int

    private let memory: ZlibStreamMemory
    private var stream: UnsafeMutablePointer<z_stream> { memory.stream }
    private var scratch: UnsafeMutableBufferPointer<UInt8> { memory.scratch }
    /// The error that broke the stream, thrown again by every later call.
    private var failure: ZlibError?

    /// Whether the end of the zlib stream (end marker and verified checksum) has been read.
    public private(set) var isFinished = false

    /// Compressed bytes consumed so far.
    public private(set) var totalIn = 0

    /// Decompressed bytes produced so far.
    public private(set) var totalOut = 0

    /// Prepares to read one zlib stream.
    /// - Parameter maxOutputBytes: the most decompressed bytes to accept in total; more is
    ///   ``ZlibError/outputLimitExceeded(limit:)``. Must not be negative.
    /// - Throws: ``ZlibError/outOfMemory``.
    public init(maxOutputBytes: Int = .max) throws(ZlibError) {
        precondition(maxOutputBytes >= 0, "maxOutputBytes must not be negative")
        self.maxOutputBytes = maxOutputBytes
        memory = try ZlibStreamMemory { czlib_inflate_init($0) }
    }

    deinit {
        memory.release(inflateEnd)
    }

    /// Decompresses `chunk`, appending to `output` whatever bytes it yields.
    /// - Throws: ``ZlibError/corruptData(message:)``, ``ZlibError/trailingData``,
    ///   ``ZlibError/outputLimitExceeded(limit:)``, ``ZlibError/dictionaryRequired``, or the
    ///   error an earlier call threw.
    public func decompress(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(ZlibError) {
        if let failure { throw failure }
        guard !chunk.isEmpty else { return }
        guard !isFinished else { throw fail(.trailingData) }
        try forEachZlibSlice(of: chunk) { (slice) throws(ZlibError) in
            // A slice after the end of the stream is trailing data as well.
            guard !isFinished else { throw fail(.trailingData) }
            stream.pointee.setInput(slice)
            defer { stream.pointee.clearInput() }
            try run(into: &output)
            totalIn += slice.count - Int(stream.pointee.avail_in)
        }
    }

    /// Decompresses `chunk`, appending to `output` whatever bytes it yields.
    /// Contiguous collections (`[UInt8]`, `ArraySlice<UInt8>`, `Data`) are not copied.
    public func decompress(_ chunk: some Collection<UInt8>, into output: inout [UInt8]) throws(ZlibError) {
        try withContiguousBytes(chunk) { (bytes) throws(ZlibError) in
            try decompress(bytes, into: &output)
        }
    }

    /// Declares the input complete.
    /// - Throws: ``ZlibError/truncatedStream`` if the end of the stream was not reached, or
    ///   the error an earlier call threw.
    public func finish() throws(ZlibError) {
        if let failure { throw failure }
        guard isFinished else { throw fail(.truncatedStream) }
    }

    /// Decompresses one complete zlib stream.
    /// - Throws: as ``decompress(_:into:)`` and ``finish()``.
    public static func decompress(_ bytes: some Collection<UInt8>, maxOutputBytes: Int = .max) throws(ZlibError) -> [UInt8] {
        let inflater = try ZlibInflater(maxOutputBytes: maxOutputBytes)
        var output: [UInt8] = []
        try inflater.decompress(bytes, into: &output)
        try inflater.finish()
        return output
    }

    /// Records the error that broke the stream and returns it for throwing.
    private func fail(_ error: ZlibError) -> ZlibError {
        failure = error
        return error
    }

    /// Calls `inflate` until the current input is used up and no output is pending, or
    /// the stream ends.
    private func run(into output: inout [UInt8]) throws(ZlibError) {
        while true {
            // Offer zlib at most one byte more than the limit allows, so exceeding it is
            // detected without ever decompressing far past it.
            let allowed = maxOutputBytes - totalOut
            let room = allowed >= scratch.count ? scratch.count : allowed + 1
            stream.pointee.next_out = scratch.baseAddress
            stream.pointee.avail_out = UInt32(room)
            let code = inflate(stream, Z_NO_FLUSH)
            let produced = room - Int(stream.pointee.avail_out)
            stream.pointee.next_out = nil
            stream.pointee.avail_out = 0
            if produced > allowed { throw fail(.outputLimitExceeded(limit: maxOutputBytes)) }
            if produced > 0 {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<produced]))
                totalOut += produced
            }
            switch code {
            case Z_STREAM_END:
                isFinished = true
                if stream.pointee.avail_in > 0 { throw fail(.trailingData) }
                return
            case Z_OK:
                // inflate stops when input runs out or output fills up; only the latter
                // may leave more to write.
                if produced < room { return }
            case Z_BUF_ERROR:
                // No progress possible: all input used, nothing pending.
                if stream.pointee.avail_in == 0 { return }
                throw fail(.unexpected(code: code, message: "inflate made no progress"))
            default:
                throw fail(ZlibError(code: code, stream: stream))
            }
        }
    }
}
