import NIOConcurrencyHelpers
import NIOCore

/// Lets one log line per cause through per interval, and says how many were held back since.
///
/// Bad input from the network (a scanner, a misconfigured peer retrying every 100 ms) must be
/// counted every time but must not fill the log: the counters carry the rate, the log the cause.
public final class LogRateLimiter: Sendable {
    private let interval: TimeAmount
    private let state = NIOLockedValueBox<[String: Entry]>([:])

    struct Entry {
        var lastLogged: NIODeadline
        var suppressed: Int
    }

    public init(interval: TimeAmount = .seconds(10)) {
        self.interval = interval
    }

    /// nil if a line for `cause` was logged within the interval (this one is held back);
    /// otherwise the number of lines held back since the last one, and this one should be logged.
    public func admit(_ cause: String, now: NIODeadline = .now()) -> Int? {
        state.withLockedValue { entries in
            if var entry = entries[cause], now - entry.lastLogged < interval {
                entry.suppressed += 1
                entries[cause] = entry
                return nil
            }
            let suppressed = entries[cause]?.suppressed ?? 0
            if entries.count > 1024 { entries.removeAll() }  // causes are few; never grow without bound
            entries[cause] = Entry(lastLogged: now, suppressed: 0)
            return suppressed
        }
    }
}
