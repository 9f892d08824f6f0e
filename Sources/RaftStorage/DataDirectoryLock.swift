import Glibc

/// An exclusive `flock(2)` on `<data-dir>/LOCK`, held for as long as this object lives.
///
/// `flock` locks belong to the open file description, so a second `DiskStorage` in the same
/// process is refused just like a second process; the kernel drops the lock when the process dies,
/// so a crash never leaves a stale lock behind. The holder writes its pid into the file so that a
/// refused opener can say who holds it.
final class DataDirectoryLock {
    private let file: FileDescriptor
    private let key: String

    init(directory: String) throws(DiskStorageError) {
        let path = directory + "/LOCK"
        let key = Self.canonical(directory)
        // A second opener in this process is refused at once, whatever the kernel says.
        guard HeldDirectories.shared.insert(key) else {
            throw .locked(directory: directory, holderPID: getpid())
        }
        do throws(DiskStorageError) {
            let file = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT)
            var attempts = 0
            while flock(file.fd, LOCK_EX | LOCK_NB) != 0 {
                if errno == EINTR { continue }
                if errno == EWOULDBLOCK {
                    // Held, yet not by a storage of this process: if the file names our own pid,
                    // the holder is a child we forked a moment ago, between its fork and the
                    // exec that closes our descriptors (O_CLOEXEC) — wait that out briefly.
                    let holder = Self.readPID(file)
                    if holder == getpid() && attempts < 200 {
                        attempts += 1
                        usleep(5_000)
                        continue
                    }
                    throw DiskStorageError.locked(directory: directory, holderPID: holder)
                }
                throw DiskStorageError.io(operation: "flock", path: path, errno: errno)
            }
            let text = Array("\(getpid())\n".utf8)
            try file.truncate(to: 0)
            try file.write(text, at: 0)
            self.file = file
            self.key = key
        } catch {
            HeldDirectories.shared.remove(key)
            throw error
        }
    }

    deinit {
        HeldDirectories.shared.remove(key)
    }

    private static func readPID(_ file: FileDescriptor) -> Int32? {
        guard let bytes = try? file.readAll() else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        return Int32(text)
    }

    /// The directory's real path, so that two spellings of it are one key.
    private static func canonical(_ directory: String) -> String {
        guard let resolved = realpath(directory, nil) else { return directory }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// The data directories this process holds open, so that a second `DiskStorage` on one of them
/// is refused without asking the kernel (whose answer a concurrently forked child can blur).
private final class HeldDirectories: @unchecked Sendable {
    // @unchecked: every access goes through `mutex`.
    static let shared = HeldDirectories()
    private var mutex = pthread_mutex_t()
    private var held: Set<String> = []

    private init() {
        pthread_mutex_init(&mutex, nil)
    }

    /// False if `key` was already held.
    func insert(_ key: String) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return held.insert(key).inserted
    }

    func remove(_ key: String) {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        held.remove(key)
    }
}
