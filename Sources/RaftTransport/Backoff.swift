import NIOCore

/// Exponential backoff with jitter between reconnect attempts to a peer.
///
/// Attempt n (n ≥ 1 consecutive failures) waits `initial × multiplierⁿ⁻¹`, capped at `maximum`,
/// of which a random fraction up to `jitter` is taken off. The jitter spreads the reconnects of
/// members that lost the same peer at the same moment (a restart), so they do not arrive in
/// lock-step; the cap bounds how long a recovered peer waits to hear from us.
public struct Backoff: Sendable, Hashable {
    public var initial: TimeAmount
    public var maximum: TimeAmount
    public var multiplier: Double
    /// In [0, 1]: 0 gives exact delays, 1 gives delays uniform in [0, base].
    public var jitter: Double

    public init(
        initial: TimeAmount = .milliseconds(50), maximum: TimeAmount = .seconds(2),
        multiplier: Double = 2, jitter: Double = 0.5
    ) {
        precondition(initial.nanoseconds > 0 && maximum >= initial, "backoff needs 0 < initial ≤ maximum")
        precondition(multiplier >= 1 && (0...1).contains(jitter), "backoff needs multiplier ≥ 1, jitter in [0, 1]")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay without jitter after `failures` consecutive failures (0 for none).
    public func baseDelay(afterFailures failures: Int) -> TimeAmount {
        guard failures > 0 else { return .zero }
        let exponent = Double(min(failures - 1, 62))
        let nanoseconds = Double(initial.nanoseconds) * Self.power(multiplier, exponent)
        return nanoseconds >= Double(maximum.nanoseconds) ? maximum : .nanoseconds(Int64(nanoseconds))
    }

    /// The delay after `failures` consecutive failures, `random` in [0, 1) choosing the jitter.
    public func delay(afterFailures failures: Int, random: Double) -> TimeAmount {
        let base = baseDelay(afterFailures: failures)
        let cut = Double(base.nanoseconds) * jitter * min(max(random, 0), 1)
        return .nanoseconds(base.nanoseconds - Int64(cut))
    }

    public func delay<R: RandomNumberGenerator>(afterFailures failures: Int, using generator: inout R) -> TimeAmount {
        delay(afterFailures: failures, random: Double.random(in: 0..<1, using: &generator))
    }

    private static func power(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        var remaining = exponent
        while remaining >= 1 && result < 1e30 {
            result *= base
            remaining -= 1
        }
        return result
    }
}
