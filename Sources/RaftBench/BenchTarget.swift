import NIOCore

/// One connection-like handle of a worker to the system under test.
protocol BenchSession: Sendable {
    /// Writes `value` at `key`; returns normally only once the system acknowledged it.
    func put(key: [UInt8], value: [UInt8]) async throws
    /// A linearizable read of `key` (absent keys count as a completed read).
    func get(key: [UInt8]) async throws
    func close() async
}

/// One operation of the workload.
enum BenchOperation: Sendable {
    case put(key: [UInt8], value: [UInt8])
    case get(key: [UInt8])
}

/// A session that can run its operations without leaving its connection's event loop: a
/// worker then issues the next operation from the completion of the last one, on that loop, with
/// no thread hop on either side of the request (an `await` resumes on another thread).
protocol LoopDrivenSession: BenchSession {
    /// The event loop of the session's connection.
    var eventLoop: any EventLoop { get }
    /// Starts `operation`; call on `eventLoop`. The future completes on `eventLoop` once the
    /// system acknowledged it, or fails as `put`/`get` would throw.
    func issue(_ operation: BenchOperation) -> EventLoopFuture<Void>
}

extension LoopDrivenSession {
    func put(key: [UInt8], value: [UInt8]) async throws {
        try await issue(.put(key: key, value: value)).get()
    }

    func get(key: [UInt8]) async throws {
        try await issue(.get(key: key)).get()
    }
}

/// What a run failed on when the system answered but not with success.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}

/// What `body` returned or threw, as a value: for work whose clean-up must be awaited before
/// the error is passed on (a connection closed before the event loops shut down).
func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
