import Foundation
import Logging
import NIOCore
import NIOPosix
import RaftCore
import RaftMessages
import RaftNode
import RaftStorage
import RaftZlib
import Testing

/// The README's example: a user's own state machine behind a node, on a real data directory.
final class Counter: StateMachine {
    var value = 0

    func apply(_ entry: LogEntry) -> Int? {
        guard entry.type == .normal else { return nil }
        value += Int(entry.data.first ?? 0)
        return value
    }

    /// A value type is its own point-in-time view.
    struct View: StateMachineSnapshot {
        let value: Int
        func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            try withUnsafeBytes(of: value) { try sink($0) }
        }
    }

    final class Restorer: StateMachineRestorer {
        var bytes: [UInt8] = []
        func consume(_ chunk: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: chunk) }
        func finish() throws {
            guard bytes.count == MemoryLayout<Int>.size else { throw CounterError.badSnapshot(bytes.count) }
        }
        /// The counter the bytes hold.
        var value: Int { bytes.withUnsafeBytes { $0.loadUnaligned(as: Int.self) } }
    }

    enum CounterError: Error { case badSnapshot(Int) }

    func snapshot() -> View { View(value: value) }
    func makeRestorer() -> Restorer { Restorer() }
    func restore(_ restorer: Restorer, index: UInt64) {
        value = restorer.value
    }
}

/// The transport of a single-member node: there is no one to send to.
struct NoPeers: MessageSender {
    func send(_ message: Message) {}
}

/// Whether a single-member node elects itself within 2 s.
func becomesLeader(_ node: RaftNode<some StateMachine>) async throws -> Bool {
    for _ in 0..<200 {
        if try await node.status().get().role == .leader { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return false
}

@Suite struct EmbeddingTests {
    @Test func aSingleMemberNodeRunsAUsersStateMachineAndRecoversItFromDisk() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("raft-embedding-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = RaftNodeConfiguration(
            id: 1, members: [1], heartbeatInterval: .milliseconds(10), electionTimeout: .milliseconds(50))
        configuration.snapshotEntries = 5
        configuration.entriesKeptAfterSnapshot = 1

        for round in 0..<2 {
            let storage = try DiskStorage(directory: directory)
            let node = try await RaftNode.start(
                configuration: configuration, storage: storage, machine: Counter(), sender: NoPeers(),
                eventLoop: group.next(), ioPool: pool, logger: Logger(label: "embedding"))
            #expect(try await becomesLeader(node), "a single member elects itself")
            var total: Int?
            for _ in 0..<8 { total = try await node.propose([5]).get() }
            // The second run starts from the first run's snapshot and log: 8 × 5 more.
            #expect(total == 40 * (round + 1))
            // A linearizable read (ReadIndex) sees every acknowledged write.
            #expect(try await node.read { $0.value }.get() == 40 * (round + 1))
            await node.stop()
            try storage.close()
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}
