import CZlib

/// The C memory behind one deflate or inflate stream: the `z_stream` (zlib keeps pointers into
/// it, so it lives on the heap and never moves) and the scratch buffer zlib writes into. The
/// owning class creates it with the matching init function and frees it in `deinit` with the
/// matching end function.
struct ZlibStreamMemory {
    let stream: UnsafeMutablePointer<z_stream>
    let scratch: UnsafeMutableBufferPointer<UInt8>

    /// Allocates the stream and runs `initialize` on it (`deflateInit`/`inflateInit`); if that
    /// fails, frees it again and throws zlib's error.
    init(_ initialize: (UnsafeMutablePointer<z_stream>) -> Int32) throws(ZlibError) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let code = initialize(stream)
        guard code == Z_OK else {
            let error = ZlibError(code: code, stream: stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw error
        }
        self.stream = stream
        self.scratch = .allocate(capacity: zlibScratchCapacity)
    }

    /// Runs `end` (`deflateEnd`/`inflateEnd`, which frees zlib's own state) and frees ours.
    func release(_ end: (UnsafeMutablePointer<z_stream>) -> Int32) {
        _ = end(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        scratch.deallocate()
    }
}
