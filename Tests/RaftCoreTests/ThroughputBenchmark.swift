@testable import RaftCore
import RaftMessages
import RaftTestKit
import Testing

/// Proposals per second through a 3-node in-memory cluster (no disk, no network), 64-byte
/// commands, in batches of 1 and 64. A measurement, not a check: it runs only with
/// `RAFT_BENCH=1`, and means something only in a release build:
/// `RAFT_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter proposalThroughput`.
@Suite struct ThroughputBenchmark {
    @Test(.enabled(if: TestSeed.environment("RAFT_BENCH") != nil), arguments: [1, 64])
    func proposalThroughput(batch: Int) throws {
        let net = TestNetwork(3) { $0.maxInflightMsgs = 64 }
        net.elect(1)
        let leader = net[1]
        let command = [UInt8](repeating: 0xAB, count: 64)
        let total = 200_000
        let clock = ContinuousClock()
        let start = clock.now
        var proposed = 0
        while proposed < total {
            for _ in 0..<batch { try leader.node.propose(command) }
            proposed += batch
            net.deliver()
            // Keep memory flat: compact what every node applied.
            if proposed % 10_000 < batch {
                for node in net.nodes.values {
                    let applied = node.raft.log.applied
                    if applied > (try node.storage.firstIndex()) { try node.storage.compact(applied) }
                }
            }
        }
        let elapsed = clock.now - start
        #expect(leader.raft.log.committed == UInt64(total))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("proposalThroughput batch \(batch): \(Int(Double(total) / seconds)) proposals/s (\(total) in \(elapsed))")
    }
}
