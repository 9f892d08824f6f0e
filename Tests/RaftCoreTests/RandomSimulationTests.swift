import RaftTestKit
import Testing

/// Randomized simulation: `RAFT_SIM_SEEDS` seeds (default 1000) starting at `RAFT_SIM_SEED_BASE`
/// (default: random), split into shards that run in parallel; `RAFT_SEED=s` replays one seed.
/// A shard runs all its seeds and reports every failing one (the first few in full).
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
        var failures: [String] = []
        var failedSeeds: [UInt64] = []
        var seed = base + UInt64(shard)
        while seed < base + UInt64(count) {
            do {
                try RandomSimulation.run(seed: seed)
            } catch {
                failedSeeds.append(seed)
                if failures.count < 3 { failures.append("\(error)") }
            }
            seed += UInt64(Self.shards)
        }
        if !failedSeeds.isEmpty {
            let seeds = failedSeeds.map { String($0) }.joined(separator: " ")
            let details = failures.joined(separator: "\n")
            Issue.record("\(failedSeeds.count) failing seeds: \(seeds)\n\(details)")
        }
    }
}
