import CZlib

/// How many bytes zlib writes per call into the fixed buffer each stream owns, before
/// they are appended to the caller's array. Appending only what zlib produced keeps the
/// caller's array growing by the output of one chunk, never by a guess at the whole.
let zlibScratchCapacity = 64 * 1024

/// zlib counts input and output in `uInt` (32 bits): larger buffers are fed in slices.
let zlibMaxSlice = Int(UInt32.max)

/// Calls `body` with `input` as contiguous bytes: directly when the collection has
/// contiguous storage (`[UInt8]`, `ArraySlice`, `Data`), through one copy otherwise.
func withContiguousBytes<C: Collection<UInt8>>(
    _ input: C, _ body: (UnsafeRawBufferPointer) throws(ZlibError) -> Void
) throws(ZlibError) {
    let result: Result<Void, ZlibError>? = input.withContiguousStorageIfAvailable { buffer in
        Result { () throws(ZlibError) in try body(UnsafeRawBufferPointer(buffer)) }
    }
    if let result {
        try result.get()
    } else {
        try withContiguousBytes(Array(input), body)
    }
}

/// Calls `body` with consecutive slices of `input` that each fit in zlib's `uInt`.
func forEachZlibSlice(
    of input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws(ZlibError) -> Void
) throws(ZlibError) {
    var start = 0
    while start < input.count {
        let end = start + min(input.count - start, zlibMaxSlice)
        try body(UnsafeRawBufferPointer(rebasing: input[start..<end]))
        start = end
    }
}

extension z_stream {
    /// Points zlib's input at `bytes` (which zlib only reads, though C declares it mutable
    /// unless `ZLIB_CONST` is set). The pointer is valid only while `bytes` is.
    mutating func setInput(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= zlibMaxSlice)
        next_in = bytes.baseAddress.map {
            UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self))
        }
        avail_in = UInt32(bytes.count)
    }

    /// Forgets the caller's input so no pointer outlives the buffer it came from.
    mutating func clearInput() {
        next_in = nil
        avail_in = 0
    }
}
