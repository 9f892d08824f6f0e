import CZlib

/// Why a zlib operation failed.
///
/// Each case names one failure a caller may want to handle differently: corrupt or
/// truncated input from a peer or a damaged file is expected and recoverable (drop the
/// snapshot, ask again), a decompression bomb is a policy decision, and everything in
/// `unexpected` is a bug on our side or in the environment.
///
/// Once a ``ZlibDeflater`` or ``ZlibInflater`` has thrown, it keeps throwing the same
/// error: zlib's state after a failure is not worth reasoning about.
public enum ZlibError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The compression level was outside `-1...9` (`-1` is zlib's default, 6).
    case invalidLevel(Int)

    /// zlib could not allocate its internal state (`Z_MEM_ERROR`).
    case outOfMemory

    /// The input is not a valid zlib stream (`Z_DATA_ERROR`): a bad header, an invalid
    /// deflate block, or an Adler-32 trailer that does not match the decompressed bytes —
    /// the last is what turns a flipped bit into an error instead of wrong data.
    /// Carries zlib's own message, e.g. "incorrect data check".
    case corruptData(message: String)

    /// The stream was written with a preset dictionary (`Z_NEED_DICT`). We never use one,
    /// so such a stream did not come from us.
    case dictionaryRequired

    /// ``ZlibInflater/finish()`` was called before the end of the zlib stream: the input
    /// was cut short (a partial file or an interrupted transfer).
    case truncatedStream

    /// Bytes followed the end of the zlib stream. A stream carries its own end marker and
    /// checksum, so anything after it is not ours: a framing bug or a corrupt container.
    case trailingData

    /// Decompressing would produce more than the inflater's `maxOutputBytes`: a guard
    /// against decompression bombs (zlib can expand 1 KiB into about 1 MiB).
    case outputLimitExceeded(limit: Int)

    /// The deflater was used after ``ZlibDeflater/finish(into:)`` ended its stream.
    case alreadyFinished

    /// Any other zlib return code (`Z_STREAM_ERROR`, `Z_VERSION_ERROR`, ...): a misuse of
    /// zlib or a broken installation, not bad input. Carries zlib's code and message.
    case unexpected(code: Int32, message: String?)

    public var description: String {
        switch self {
        case .invalidLevel(let level): "zlib: invalid compression level \(level) (expected -1...9)"
        case .outOfMemory: "zlib: out of memory"
        case .corruptData(let message): "zlib: corrupt data: \(message)"
        case .dictionaryRequired: "zlib: stream requires a preset dictionary"
        case .truncatedStream: "zlib: truncated stream (ended before the end marker)"
        case .trailingData: "zlib: unexpected bytes after the end of the stream"
        case .outputLimitExceeded(let limit): "zlib: decompressed size exceeds the limit of \(limit) bytes"
        case .alreadyFinished: "zlib: stream already finished"
        case .unexpected(let code, let message): "zlib: unexpected return code \(code)\(message.map { ": \($0)" } ?? "")"
        }
    }

    /// Maps a zlib return code that is not a success to an error, reading the stream's
    /// `msg` for the cases that have one.
    init(code: Int32, stream: UnsafePointer<z_stream>) {
        let message = stream.pointee.msg.map { String(cString: $0) }
        switch code {
        case Z_MEM_ERROR: self = .outOfMemory
        case Z_DATA_ERROR: self = .corruptData(message: message ?? "invalid data")
        case Z_NEED_DICT: self = .dictionaryRequired
        default: self = .unexpected(code: code, message: message)
        }
    }
}
