#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed check of the simulated tester. Its description names the test, the simulated time,
/// the seed and the one command that replays the run.
public struct TesterFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Seeds of simulated runs: `RAFT_SEED` if set (to replay a failure), else a fresh random one.
public enum TestSeed {
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    public static func make() -> UInt64 {
        if let text = environment("RAFT_SEED"), let seed = UInt64(text) { return seed }
        return UInt64.random(in: 1...UInt64(Int64.max))
    }
}
