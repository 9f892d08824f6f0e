import Glibc

/// An exclusive `flock(2)` on `<data-dir>/LOCK`, held for as long as this object lives.
///
/// `flock` locks belong to the open file description, so a second `DiskStorage` in the same
/// process is refused just like a second process; the kernel drops the lock when the process dies,
/// so a crash never leaves a stale lock behind. The holder writes its pid into the file so that a
/// refused opener can say who holds it.
final class DataDirectoryLock {
    private let file: FileDescriptor

    init(directory: String) throws(DiskStorageError) {
        let path = directory + "/LOCK"
        let file = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT)
        while flock(file.fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK {
                throw .locked(directory: directory, holderPID: Self.readPID(file))
            }
            throw .io(operation: "flock", path: path, errno: errno)
        }
        let text = Array("\(getpid())\n".utf8)
        try file.truncate(to: 0)
        try file.write(text, at: 0)
        self.file = file
    }

    private static func readPID(_ file: FileDescriptor) -> Int32? {
        guard let bytes = try? file.readAll() else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        return Int32(text)
    }
}
