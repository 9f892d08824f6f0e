import RaftCore
import RaftMessages

/// Proposals per second through a 3-node cluster of `RawNode`s with in-memory storage and
/// instant, lossless delivery: no disk, no network, no clocks. It is the ceiling the real node
/// can approach, and it measures the core's own cost per entry (log bookkeeping, progress
/// tracking, message building, applying).
enum CoreBenchmark {
    /// One node and its storage, driven as `Ready` documents.
    private struct Member {
        let node: RawNode
        let storage: MemoryStorage
    }

    static func run(proposals: Int = 200_000, batchSizes: [Int] = [1, 64]) throws -> [String] {
        try batchSizes.map { batch in
            let count = batch == 1 ? proposals / 4 : proposals
            return try measure(proposals: count, batch: batch)
        }
    }

    private static func measure(proposals: Int, batch: Int) throws -> String {
        let ids: [UInt64] = [1, 2, 3]
        let members = try ids.map { id in
            let storage = MemoryStorage(voters: ids)
            let config = Config(id: id, voters: ids, randomSeed: id)
            return Member(node: try RawNode(config: config, storage: storage), storage: storage)
        }
        var inbox: [Message] = []
        members[0].node.campaign()
        try pump(members, &inbox)
        precondition(members[0].node.isLeader, "node 1 did not win the first election")

        let command = [UInt8](repeating: 0x5A, count: 64)
        let leader = members[0].node
        let clock = ContinuousClock()
        var proposed = 0
        let elapsed = try clock.measure {
            while proposed < proposals {
                let n = min(batch, proposals - proposed)
                var last: UInt64 = 0
                for _ in 0..<n { last = try leader.propose(command) }
                proposed += n
                try pump(members, &inbox)
                precondition(leader.commitIndex >= last, "a batch did not commit")
            }
        }
        // Followers learn the last commit index from the next heartbeat.
        for _ in 0..<Config(id: 1, voters: ids).heartbeatTick { leader.tick() }
        try pump(members, &inbox)
        for member in members {
            precondition(member.node.appliedIndex == leader.commitIndex, "node \(member.node.id) lags")
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return "core.propose batch=\(batch): \(Int(Double(proposals) / seconds)) proposals/s (\(proposals) 64-byte commands, 3 in-memory nodes, \(Int(seconds * 1000)) ms)"
    }

    /// Processes every `Ready` and delivers every message until the cluster is quiet.
    private static func pump(_ members: [Member], _ inbox: inout [Message]) throws {
        var rounds = 0
        while true {
            var busy = false
            for member in members where member.node.hasReady {
                busy = true
                let ready = member.node.ready()
                try member.storage.stageSnapshotChunks(ready.snapshotChunks)
                if let snapshot = ready.snapshot { try member.storage.applySnapshot(snapshot) }
                try member.storage.append(ready.entries)
                if let hardState = ready.hardState { member.storage.setHardState(hardState) }
                inbox.append(contentsOf: ready.messages + ready.messagesAfterPersist)
                member.node.advance(ready)
            }
            let delivering = inbox
            inbox.removeAll(keepingCapacity: true)
            for message in delivering {
                busy = true
                try members[Int(message.to) - 1].node.step(message)
            }
            if !busy { return }
            rounds += 1
            precondition(rounds < 10_000, "the cluster did not quiesce")
        }
    }
}
