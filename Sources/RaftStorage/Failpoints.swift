import Glibc
import Synchronization

/// Delays injected into storage I/O so that tests can make a real process's disk slow (etcd's
/// gofail, in miniature). Off unless configured — `raft-node` reads `RAFT_FAILPOINTS`:
///
/// ```
/// RAFT_FAILPOINTS="wal-fsync=2000ms"                       every log fsync takes 2 s longer
/// RAFT_FAILPOINTS="wal-fsync=2000ms@/tmp/slow-{id}"        ... while that file exists
/// RAFT_FAILPOINTS="wal-fsync=500ms,snapshot-fsync=3000ms"  several points
/// RAFT_FAILPOINTS="client-answer=300ms"                    writes answered 300 ms after they apply
/// ```
///
/// `{id}` in a path is the member's id, so that one setting serves a whole cluster and a test
/// slows one member's disk by creating its file (and heals it by removing the file).
public enum Failpoint: String, CaseIterable, Sendable {
    /// Before each fdatasync of the write-ahead log.
    case walFsync = "wal-fsync"
    /// Before the fsync of a snapshot file (taken or received).
    case snapshotFsync = "snapshot-fsync"
    /// Between a write's application and its answer to the client (not a sleep: the answer is
    /// scheduled later). A crash in that window loses the answer of an applied write, so the
    /// client retries a write the cluster already has: what exactly-once sessions are for.
    case clientAnswer = "client-answer"

    /// Why a failpoint setting was refused.
    public struct SettingError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    private struct Setting: Sendable {
        var delay: Duration
        var whileFileExists: String?
    }

    private static let settings = Mutex<[Failpoint: Setting]>([:])

    /// Replaces every setting by those `spec` names (empty: all off).
    public static func configure(_ spec: String, id: UInt64) throws(SettingError) {
        var parsed: [Failpoint: Setting] = [:]
        for item in spec.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let point = Failpoint(rawValue: String(parts[0]).trimmingSpaces) else {
                throw SettingError(
                    description: "failpoint '\(item)' is not NAME=DELAYms[@FILE] with NAME one of "
                        + allCases.map(\.rawValue).joined(separator: ", "))
            }
            let value = parts[1].split(separator: "@", maxSplits: 1)
            let delay = String(value[0]).trimmingSpaces
            guard delay.hasSuffix("ms"), let ms = Int(delay.dropLast(2)), ms >= 0 else {
                throw SettingError(description: "failpoint '\(item)': the delay must be milliseconds, like 2000ms")
            }
            let path = value.count == 2 ? String(value[1]).replacingID(id) : nil
            parsed[point] = Setting(delay: .milliseconds(ms), whileFileExists: path)
        }
        settings.withLock { $0 = parsed }
    }

    /// Whether this point was configured at all (the callers on a hot path skip it otherwise).
    public var isConfigured: Bool { Self.settings.withLock { $0[self] != nil } }

    /// The configured delay, if this point is on now.
    public var delay: Duration? {
        guard let setting = Self.settings.withLock({ $0[self] }) else { return nil }
        if let path = setting.whileFileExists, access(path, F_OK) != 0 { return nil }
        return setting.delay
    }

    /// Sleeps for the configured delay, if this point is on.
    func hit() {
        guard let delay else { return }
        let (seconds, attoseconds) = delay.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    fileprivate func replacingID(_ id: UInt64) -> String {
        replacing("{id}", with: "\(id)")
    }
}
