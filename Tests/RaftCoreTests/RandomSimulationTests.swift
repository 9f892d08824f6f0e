import RaftTestKit
import Testing

/// Randomized simulation: `RAFT_SIM_SEEDS` seeds (default 1000) starting at `RAFT_SIM_SEED_BASE`
/// (default: random), split into shards that run in parallel; `RAFT_SEED=s` replays one seed.
@Suite struct RandomSimulationTests {
    static let shards = 8
    /// One base for all shards, so that a run covers the seeds base ..< base + count.
    static let base =
        TestSeed.environment("RAFT_SIM_SEED_BASE").flatMap { UInt64($0) } ?? UInt64.random(in: 0...(1 << 40))

    @Test(arguments: 0..<shards)
    func randomSimulation(shard: Int) throws {
        if let text = TestSeed.environment("RAFT_SEED"), let seed = UInt64(text) {
            if shard == 0 { try RandomSimulation.run(seed: seed) }
            return
        }
        let count = TestSeed.environment("RAFT_SIM_SEEDS").flatMap { Int($0) } ?? 1000
        let base = Self.base
        var seed = base + UInt64(shard)
        while seed < base + UInt64(count) {
            try RandomSimulation.run(seed: seed)
            seed += UInt64(Self.shards)
        }
    }
}
