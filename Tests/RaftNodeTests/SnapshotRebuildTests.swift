import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftMessages
import RaftNode
import Testing

/// A counter with a large, incompressible snapshot (its value, then 1 MiB of noise: a stream of
/// many chunks) whose restorer stops at its second chunk until the test opens the gate: a
/// rebuild from a leader's snapshot that takes as long as the test wants.
final class SlowRestoreCounter: StateMachine {
    var value = 0
    let gate: RestoreGate
    static let noise: [UInt8] = {
        var x: UInt64 = 0x2545_F491_4F6C_DD1D
        return (0..<(1 << 20)).map { _ in
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }()

    init(gate: RestoreGate) { self.gate = gate }

    final class RestoreGate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private let state = NIOLockedValueBox((open: false, waiting: 0, finished: 0))
        /// Restorers that reached the gate / that finished.
        var waiting: Int { state.withLockedValue { $0.waiting } }
        var finished: Int { state.withLockedValue { $0.finished } }
        func open() {
            state.withLockedValue { $0.open = true }
            semaphore.signal()
        }
        func finishedOne() { state.withLockedValue { $0.finished += 1 } }
        /// Waits at most 10 s for the gate (a test that never opens it fails instead of hanging).
        func pass() {
            let open = state.withLockedValue { state in
                state.waiting += 1
                return state.open
            }
            guard !open else { return }
            _ = semaphore.wait(timeout: .now() + .seconds(10))
            semaphore.signal()  // open for everyone from now on
        }
    }

    struct View: StateMachineSnapshot {
        let value: Int
        func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            try withUnsafeBytes(of: value) { try sink($0) }
            try SlowRestoreCounter.noise.withUnsafeBytes { try sink($0) }
        }
    }

    final class Restorer: StateMachineRestorer {
        let gate: RestoreGate
        var bytes: [UInt8] = []
        var chunks = 0
        init(gate: RestoreGate) { self.gate = gate }
        func consume(_ chunk: UnsafeRawBufferPointer) throws {
            chunks += 1
            if chunks == 2 { gate.pass() }
            bytes.append(contentsOf: chunk)
        }
        func finish() throws {
            guard bytes.count == 8 + SlowRestoreCounter.noise.count else { throw Counter.CounterError.badSnapshot(bytes.count) }
            gate.finishedOne()
        }
        var value: Int { bytes.withUnsafeBytes { $0.loadUnaligned(as: Int.self) } }
    }

    func apply(_ entry: LogEntry) -> Int? {
        guard entry.type == .normal else { return nil }
        value += 1
        return value
    }

    func snapshot() -> View { View(value: value) }
    func makeRestorer() -> Restorer { Restorer(gate: gate) }
    func restore(_ restorer: Restorer, index: UInt64) { value = restorer.value }
}

@Suite struct SnapshotRebuildTests {
    /// §7 with a large state: a follower stores and acknowledges the leader's snapshot, then
    /// rebuilds its state machine from it. Stopped in the middle of that rebuild (a crash or a
    /// restart), it does not wait for the rebuild to end, and on the next start it restores
    /// from the stored snapshot and catches up like any restarted member.
    @Test func aFollowerStoppedMidRebuildRestoresFromTheStoredSnapshotOnRestart() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let network = LocalNetwork()
        let gate = SlowRestoreCounter.RestoreGate()
        let ids: [UInt64] = [1, 2, 3]
        var storages: [UInt64: MemoryStorage] = [:]
        var nodes: [UInt64: RaftNode<SlowRestoreCounter>] = [:]
        func start(_ id: UInt64) async throws {
            var configuration = RaftNodeConfiguration(
                id: id, members: ids, heartbeatInterval: .milliseconds(20), electionTimeout: .milliseconds(200))
            configuration.snapshotEntries = 10
            configuration.entriesKeptAfterSnapshot = 2
            configuration.core.randomSeed = id
            var logger = Logger(label: "node-\(id)")
            logger.logLevel = .warning
            let storage = storages[id] ?? MemoryStorage(voters: ids)
            storages[id] = storage
            let node = try await RaftNode.start(
                configuration: configuration, storage: storage, machine: SlowRestoreCounter(gate: gate),
                sender: network.sender(), eventLoop: group.next(), ioPool: pool, logger: logger)
            nodes[id] = node
            network.register(node)
        }
        // On a loaded machine a heartbeat can come later than the 200 ms election timeout, and
        // another member take over: every request goes to the member that leads now.
        func currentLeader(among candidates: [UInt64]) async throws -> UInt64 {
            var found: UInt64 = 0
            try await pollUntil("one of \(candidates) leads") {
                for id in candidates where try await nodes[id]!.status().get().role == .leader { found = id }
                return found != 0
            }
            return found
        }
        func propose(among candidates: [UInt64]) async throws -> Int? {
            try await proposingAgainWhileLeadershipMoves {
                try await nodes[try await currentLeader(among: candidates)]!.propose([1]).get()
            }
        }
        for id in ids { try await start(id) }
        let firstLeader = try await currentLeader(among: ids)
        let follower = ids.first { $0 != firstLeader }!
        let others = ids.filter { $0 != follower }
        network.isolate(follower)
        for _ in 0..<30 { _ = try await propose(among: others) }
        try await pollUntil("the leader snapshotted past the isolated follower") {
            try await nodes[currentLeader(among: others)]!.status().get().snapshotIndex >= 20
        }
        network.heal(follower)
        try await pollUntil("the follower is rebuilding from the leader's snapshot") { gate.waiting > 0 }
        let stored = storages[follower]!.currentSnapshot.metadata.index
        #expect(stored >= 20, "the snapshot was stored before the rebuild began")

        // Stop it while the rebuild is held at its second chunk, then let the rebuild go on:
        // it must give up at its next chunk, not read the whole snapshot first.
        let stopping = nodes[follower]!
        let stopped = Task { await stopping.stop() }
        try await pollUntil("the follower has stopped serving") {
            do {
                _ = try await stopping.propose([1]).get()
                return false
            } catch {
                return error as? RaftNodeError == .stopped
            }
        }
        network.unregister(follower)
        gate.open()
        await stopped.value
        #expect(gate.finished == 0, "the stopped follower abandoned its rebuild")

        try await start(follower)
        var expected = 0
        try await pollUntil("the restarted follower caught up with the leader") {
            expected = try await nodes[currentLeader(among: others)]!.withStateMachine { $0.value }.get()
            return try await nodes[follower]!.withStateMachine { $0.value }.get() == expected && expected >= 30
        }
        let status = try await nodes[follower]!.status().get()
        #expect(status.snapshotIndex >= stored, "it restored from the stored snapshot, not from an empty state")
        #expect(try await propose(among: ids) == expected + 1, "the cluster serves on")
        for node in nodes.values { await node.stop() }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}
