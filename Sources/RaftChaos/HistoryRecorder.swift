import Synchronization

/// Records a `KVHistory` as clients run: each client calls `invoke` just before sending a
/// request and `complete` once it knows the outcome. Safe to share between threads and tasks;
/// times come from a monotonic clock, in nanoseconds since the recorder was made.
///
/// An operation not yet completed shows in `history()` with no completion time and outcome
/// `.unknown`, which is what the checker must assume of a request whose answer never came.
public final class HistoryRecorder: Sendable {
    /// Time 0 of the history (to put other events, such as injected faults, on the same clock).
    public let origin: ContinuousClock.Instant
    private let operations = Mutex<[RecordedOperation]>([])

    public init(origin: ContinuousClock.Instant = .now) {
        self.origin = origin
    }

    /// Records the invocation of `call` by `client` and returns the operation's id.
    public func invoke(client: Int, call: KVCall) -> Int {
        let now = elapsed()
        return operations.withLock { operations in
            let id = operations.count
            operations.append(
                RecordedOperation(id: id, client: client, call: call, invoke: now, complete: nil, outcome: .unknown))
            return id
        }
    }

    /// Records the outcome of operation `id`. Each operation completes once; pass `.unknown`
    /// when the client gives up without an answer.
    public func complete(id: Int, outcome: KVOutcome) {
        let now = elapsed()
        operations.withLock { operations in
            precondition(operations.indices.contains(id), "no operation \(id) was invoked")
            precondition(operations[id].complete == nil, "operation \(id) completed twice")
            operations[id].complete = now
            operations[id].outcome = outcome
        }
    }

    /// A snapshot of everything recorded so far.
    public func history() -> KVHistory {
        KVHistory(operations: operations.withLock { $0 })
    }

    private func elapsed() -> UInt64 {
        let (seconds, attoseconds) = (ContinuousClock.now - origin).components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
