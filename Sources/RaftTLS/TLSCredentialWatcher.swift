import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Reloads a member's TLS credentials when asked (SIGHUP) and when their files change (checked
/// every `interval`), logging what happened. See `TLSCredentials`, "Rotation".
public final class TLSCredentialWatcher: Sendable {
    public let credentials: [TLSCredentials]
    private let logger: Logger
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)
    /// One reload at a time (SIGHUP and the periodic check may come together), so that an older
    /// read never replaces a newer one.
    private let reloading = NIOLock()

    public init(credentials: [TLSCredentials], logger: Logger) {
        self.credentials = credentials
        self.logger = logger
    }

    /// Checks the files every `interval` on `eventLoop` until `stop()`.
    public func start(on eventLoop: any EventLoop, every interval: TimeAmount = .seconds(10)) {
        let repeated = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            reload(onlyChanged: true)
        }
        task.withLockedValue { $0 = repeated }
    }

    public func stop() {
        task.withLockedValue { $0?.cancel(); $0 = nil }
    }

    /// Reloads every set of credentials (`onlyChanged`: those whose files changed). Returns
    /// whether all that were read loaded.
    @discardableResult
    public func reload(onlyChanged: Bool = false) -> Bool {
        reloading.withLock { reloadSerially(onlyChanged: onlyChanged) }
    }

    private func reloadSerially(onlyChanged: Bool) -> Bool {
        var allLoaded = true
        for credential in credentials where !onlyChanged || credential.filesChanged {
            do {
                try credential.reload()
                logger.notice(
                    "TLS certificates reloaded",
                    metadata: [
                        "port": "\(credential.port.rawValue)", "files": "\(credential.files.paths.joined(separator: ","))",
                    ])
            } catch {
                allLoaded = false
                logger.error(
                    "TLS certificates not reloaded; the previous ones stay in use",
                    metadata: ["port": "\(credential.port.rawValue)", "error": "\(error)"])
            }
        }
        return allLoaded
    }
}
