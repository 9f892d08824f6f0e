import NIOCore
import RaftTransport
import Testing

@Suite("Reconnect backoff")
struct BackoffTests {
    @Test func delaysDoubleUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2), multiplier: 2, jitter: 0.5)
        let bases = (0...9).map { backoff.baseDelay(afterFailures: $0) }
        #expect(
            bases == [
                .zero, .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
                .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2), .seconds(2),
            ])
        #expect(backoff.baseDelay(afterFailures: 10_000) == .seconds(2))
    }

    @Test func jitterTakesOffAtMostItsFraction() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0.5)
        #expect(backoff.delay(afterFailures: 1, random: 0) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 1, random: 0.5) == .milliseconds(75))
        var generator = SystemRandomNumberGenerator()
        for failures in 1...8 {
            let base = backoff.baseDelay(afterFailures: failures)
            let delay = backoff.delay(afterFailures: failures, using: &generator)
            #expect(delay <= base && delay.nanoseconds >= base.nanoseconds / 2)
        }
    }
}
