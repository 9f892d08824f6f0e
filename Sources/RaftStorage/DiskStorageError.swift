import Glibc
import RaftZlib

/// Why durable storage refused to open or to write.
///
/// Every case names the file (and, for corruption, the byte offset) so that an operator can look
/// at it. Logical misuse that `MemoryStorage` also reports (`compacted`, `unavailable`,
/// `snapshotOutOfDate`) is thrown as `RaftCore.StorageError` instead, with the same meaning.
public enum DiskStorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another process (or another `DiskStorage` in this one) holds the data directory's lock.
    case locked(directory: String, holderPID: Int32?)
    /// A system call failed: `operation` on `path` with `errno` (disk full is `ENOSPC`).
    case io(operation: String, path: String, errno: Int32)
    /// A log record that is not the torn tail of the last segment is damaged.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// A log segment is missing: the sequence has a hole, or the oldest segment kept does not
    /// follow from what the snapshot covers.
    case missingSegment(file: String, reason: String)
    /// A snapshot file's header or data does not check out.
    case corruptSnapshot(file: String, offset: Int, reason: String)
    /// The log was compacted through `compactedThrough` but no snapshot covers that index.
    case missingSnapshot(directory: String, compactedThrough: UInt64, snapshotIndex: UInt64)
    /// An earlier write or fsync failed: what reached the disk is unknown, so the storage
    /// refuses every further write. Reopen the directory (recovery decides what survived).
    case failed(cause: String)
    /// The storage was closed.
    case closed
    /// `compact` past the snapshot would lose entries no snapshot holds.
    case compactBeyondSnapshot(index: UInt64, snapshotIndex: UInt64)
    /// A caller error: entries that are not consecutive, a snapshot used twice, ...
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .locked(let directory, let pid):
            let holder = pid.map { " by process \($0)" } ?? " by another process"
            return "data directory \(directory) is locked\(holder) (\(directory)/LOCK); is another raft-node running on it?"
        case .io(let operation, let path, let code):
            return "\(operation) failed on \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .corruptRecord(let file, let offset, let reason):
            return "corrupt log record in \(file) at byte offset \(offset): \(reason)"
        case .missingSegment(let file, let reason):
            return "missing log segment \(file): \(reason)"
        case .corruptSnapshot(let file, let offset, let reason):
            return "corrupt snapshot \(file) at byte offset \(offset): \(reason)"
        case .missingSnapshot(let directory, let compacted, let snapshotIndex):
            return "log in \(directory) is compacted through index \(compacted) but the newest snapshot covers only \(snapshotIndex)"
        case .failed(let cause):
            return "storage refuses writes after an earlier failure (\(cause)); restart the node to recover"
        case .closed:
            return "storage is closed"
        case .compactBeyondSnapshot(let index, let snapshotIndex):
            return "cannot compact through \(index): the newest snapshot covers only \(snapshotIndex)"
        case .invalidArgument(let text):
            return "invalid argument: \(text)"
        }
    }
}

extension DiskStorageError {
    /// A zlib failure while reading `file`, at about `offset` in it.
    static func snapshotZlib(_ error: ZlibError, file: String, offset: Int) -> DiskStorageError {
        .corruptSnapshot(file: file, offset: offset, reason: error.description)
    }
}
