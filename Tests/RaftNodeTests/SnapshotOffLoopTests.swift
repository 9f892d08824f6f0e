import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftMessages
import RaftNode
import Testing

/// A counter whose snapshot views block in `write` until the test opens the gate: a snapshot
/// that takes as long as the test wants.
final class GatedCounter: StateMachine {
    var value = 0
    /// The value after each applied index.
    var history: [UInt64: Int] = [:]
    let gate: Gate

    init(gate: Gate) { self.gate = gate }

    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private let state = NIOLockedValueBox((writing: 0, written: 0))
        /// Views that entered `write` / returned from it.
        var writing: Int { state.withLockedValue { $0.writing } }
        var written: Int { state.withLockedValue { $0.written } }
        func open() { semaphore.signal() }
        /// Blocks at most `seconds` (a loop-bound snapshot would stall the test, not hang it).
        func pass(seconds: Int) {
            state.withLockedValue { $0.writing += 1 }
            _ = semaphore.wait(timeout: .now() + .seconds(seconds))
            state.withLockedValue { $0.written += 1 }
        }
    }

    struct View: StateMachineSnapshot {
        let value: Int
        let gate: Gate
        func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            gate.pass(seconds: 10)
            try withUnsafeBytes(of: value) { try sink($0) }
        }
    }

    func apply(_ entry: LogEntry) -> Int? {
        if entry.type == .normal { value += 1 }
        history[entry.index] = value
        return entry.type == .normal ? value : nil
    }

    func snapshot() -> View { View(value: value, gate: gate) }
    func makeRestorer() -> Counter.Restorer { Counter.Restorer() }
    func restore(_ restorer: Counter.Restorer, index: UInt64) {
        value = restorer.value
    }
}

@Suite struct SnapshotOffLoopTests {
    /// §7 with a big state: writing the snapshot must not stop the node. While the state
    /// machine's view is still being written (held by the gate), the leader keeps committing and
    /// applying; once the view is written the snapshot is published and the log trimmed.
    @Test func theLoopKeepsCommittingWhileASnapshotIsWritten() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        var configuration = RaftNodeConfiguration(
            id: 1, members: [1], heartbeatInterval: .milliseconds(10), electionTimeout: .milliseconds(50))
        configuration.snapshotEntries = 10
        configuration.entriesKeptAfterSnapshot = 2
        let gate = GatedCounter.Gate()
        let storage = MemoryStorage()
        let node = try await RaftNode.start(
            configuration: configuration, storage: storage, machine: GatedCounter(gate: gate), sender: NoPeers(),
            eventLoop: group.next(), ioPool: pool, logger: Logger(label: "snapshot-off-loop"))
        #expect(try await becomesLeader(node), "a single member elects itself")
        // The first configuration entry and a leader's no-op are applied too: 10 proposals pass
        // the snapshot threshold.
        for _ in 0..<10 { _ = try await node.propose([1]).get() }
        for _ in 0..<200 where gate.writing == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(gate.writing == 1, "a snapshot started")
        var last = 0
        for _ in 0..<50 { last = try #require(try await node.propose([1]).get()) }
        #expect(last == 60)
        #expect(gate.written == 0, "60 entries committed and applied while the snapshot was still being written")
        let during = try await node.status().get()
        #expect(during.snapshotIndex == 0, "nothing published before the write ends")

        gate.open()
        for _ in 0..<500 where try await node.status().get().snapshotIndex == 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let after = try await node.status().get()
        #expect(after.snapshotIndex >= 10 && after.snapshotIndex < 20, "the snapshot of the state when it was taken")
        let valueThen = try await node.withStateMachine { $0.history[after.snapshotIndex] }.get()
        await node.stop()
        #expect(storage.currentSnapshot.metadata.index == after.snapshotIndex)
        #expect(try storage.firstIndex() == after.snapshotIndex - 2 + 1, "log trimmed behind it")
        // The view was taken at the snapshot's index: restoring it gives the counter as of then.
        let restored = GatedCounter(gate: gate)
        let restorer = restored.makeRestorer()
        _ = try storage.readSnapshot { try restorer.consume($0) }
        try restorer.finish()
        restored.restore(restorer, index: after.snapshotIndex)
        #expect(restored.value == valueThen && valueThen != nil)
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}
