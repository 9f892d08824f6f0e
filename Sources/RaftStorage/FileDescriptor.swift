import Glibc

/// An open file descriptor, closed when the last reference goes away.
///
/// Every call retries `EINTR` and turns a failure into ``DiskStorageError/io(operation:path:errno:)``
/// naming the file, so callers never see a bare errno. Writes loop until every byte is written:
/// a short write is not an error, a write that cannot make progress (disk full) is.
final class FileDescriptor {
    let fd: Int32
    /// The path the descriptor was opened with, for error messages.
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit {
        Glibc.close(fd)
    }

    /// `open(2)` with `O_CLOEXEC` added.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(DiskStorageError) -> FileDescriptor {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return FileDescriptor(fd: fd, path: path) }
            if errno == EINTR { continue }
            throw .io(operation: "open", path: path, errno: errno)
        }
    }

    /// Writes all of `bytes` at `offset` (`pwrite(2)`, looping over short writes).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DiskStorageError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                throw .io(operation: "write", path: path, errno: n == 0 ? ENOSPC : errno)
            }
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(DiskStorageError) {
        let result: Result<Void, DiskStorageError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(DiskStorageError) in try write(buffer, at: offset) }
        }
        try result.get()
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(DiskStorageError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw .io(operation: "read", path: path, errno: errno)
            }
        }
        return done
    }

    /// Reads the whole file (segments and snapshot headers are read this way).
    func readAll() throws(DiskStorageError) -> [UInt8] {
        let count = try size()
        var bytes = [UInt8](repeating: 0, count: count)
        let result: Result<Int, DiskStorageError> = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(DiskStorageError) in try read(into: buffer, at: 0) }
        }
        let n = try result.get()
        if n < count { bytes.removeSubrange(n...) }
        return bytes
    }

    func size() throws(DiskStorageError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// `fdatasync(2)`: the data and the size, not the timestamps.
    func dataSync() throws(DiskStorageError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw .io(operation: "fdatasync", path: path, errno: errno) }
        }
    }

    /// `fsync(2)`: also what a directory needs for its entries to be durable.
    func sync() throws(DiskStorageError) {
        while fsync(fd) != 0 {
            if errno != EINTR { throw .io(operation: "fsync", path: path, errno: errno) }
        }
    }

    func truncate(to length: Int) throws(DiskStorageError) {
        while ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw .io(operation: "ftruncate", path: path, errno: errno) }
        }
    }
}

/// The few directory operations the storage needs, as thin wrappers that name the path on error.
enum FileSystem {
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Creates `path` (one level) if it is missing; returns whether it was created.
    @discardableResult
    static func makeDirectory(_ path: String) throws(DiskStorageError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST {
            var info = stat()
            if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { return false }
            throw .io(operation: "mkdir (exists and is not a directory)", path: path, errno: EEXIST)
        }
        throw .io(operation: "mkdir", path: path, errno: errno)
    }

    /// The names in directory `path`, without `.` and `..`, unsorted.
    static func list(_ path: String) throws(DiskStorageError) -> [String] {
        guard let dir = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// fsyncs a directory so that files created, renamed or removed in it stay so after a crash.
    static func syncDirectory(_ path: String) throws(DiskStorageError) {
        let dir = try FileDescriptor.open(path, flags: O_RDONLY | O_DIRECTORY)
        try dir.sync()
    }

    static func rename(_ from: String, _ to: String) throws(DiskStorageError) {
        guard Glibc.rename(from, to) == 0 else { throw .io(operation: "rename to \(to)", path: from, errno: errno) }
    }

    /// Removes a file; a file already gone is not an error.
    static func remove(_ path: String) throws(DiskStorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .io(operation: "unlink", path: path, errno: errno) }
    }
}
