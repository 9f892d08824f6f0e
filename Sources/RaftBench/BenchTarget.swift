/// One connection-like handle of a worker to the system under test.
protocol BenchSession: Sendable {
    /// Writes `value` at `key`; returns normally only once the system acknowledged it.
    func put(key: [UInt8], value: [UInt8]) async throws
    /// A linearizable read of `key` (absent keys count as a completed read).
    func get(key: [UInt8]) async throws
    func close() async
}

/// What a run failed on when the system answered but not with success.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}
