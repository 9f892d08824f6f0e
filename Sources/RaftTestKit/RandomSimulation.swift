import RaftCore

/// A randomized run beyond the reference suite: random partitions, crashes and restarts, loss,
/// duplication and long reordering, snapshots at random intervals, and (in three seeds of four)
/// membership changes — members added as learners or voters (some never started), promoted,
/// removed (the leader too), replaced in joint changes, and leadership handed over — with the
/// safety properties of Figure 3 checked after every event; then every fault heals and a
/// command must commit on every member of the final configuration (liveness).
public enum RandomSimulation {
    /// Runs one seed; throws a `TesterFailure` naming the seed on any violation.
    public static func run(seed: UInt64, steps: Int = 50) throws {
        // Three seeds in four change the membership too.
        let membershipChanges = (seed / 2) % 4 != 0
        let cfg = SimCluster(
            name: "randomSimulation", servers: 3 + 2 * Int(seed % 2), unreliable: false, snapshot: true, seed: seed,
            // One seed in three keeps snapshot streams in the storage, read a chunk at a time.
            persister: seed % 3 == 0 ? .streamingMemory : PersisterFactory.current(), membershipMode: membershipChanges)
        defer { cfg.cleanup() }
        cfg.checkInvariants = true
        // Vary the configuration too: every option must keep the safety properties.
        cfg.nodeConfig.preVote = cfg.rand(4) != 0
        cfg.nodeConfig.checkQuorum = cfg.rand(4) != 0
        cfg.nodeConfig.noopOnElection = cfg.rand(2) == 0
        cfg.nodeConfig.maxInflightMsgs = 1 + cfg.rand(8)
        cfg.nodeConfig.maxEntriesPerMsg = 1 + cfg.rand(64)
        cfg.nodeConfig.maxSizePerMsg = cfg.rand(2) == 0 ? 64 : 64 * 1024
        cfg.nodeConfig.maxSnapshotChunkBytes = 16 + cfg.rand(512)
        cfg.nodeConfig.maxSnapshotChunksInFlight = 1 + cfg.rand(4)
        cfg.nodeConfig.strictReconfigCheck = cfg.rand(2) == 0
        cfg.nodeConfig.maxPromotionLag = UInt64(cfg.rand(20))
        for i in 0..<cfg.n { cfg.restart(i) }
        cfg.snapshotEvery = UInt64(3 + cfg.rand(20))
        cfg.duplicateProbability = Double(cfg.rand(10)) / 100
        cfg.crashBeforePersistProbability = cfg.rand(2) == 0 ? 0 : Double(1 + cfg.rand(5)) / 100
        cfg.slowApplyProbability = cfg.rand(2) == 0 ? 0 : Double(cfg.rand(50)) / 100
        // Slow disks: the node steps messages and ticks while its write is in flight.
        cfg.asyncPersistProbability = seed % 5 < 2 ? Double(10 + seed % 41) / 100 : 0
        cfg.setUnreliable(cfg.rand(2) == 0)
        for _ in 0..<steps {
            let n = cfg.n
            let action = cfg.rand(membershipChanges ? 115 : 100)
            switch action {
            case 0..<30:
                for _ in 0..<(1 + cfg.rand(5)) {
                    for i in 0..<n where cfg.isAlive(i) {
                        if cfg.startCommand(i, Command.int(cfg.randInt())).isLeader { break }
                    }
                }
                // Linearizable reads on live servers: a leader's own (a deposed one's included),
                // and forwarded by followers and learners.
                for i in 0..<n where cfg.isAlive(i) && cfg.rand(2) == 0 {
                    cfg.startRead(i)
                }
            case 30..<38:
                cfg.disconnect(cfg.rand(n))
            case 38..<45:
                // A partition: a random minority or majority loses touch with the rest.
                for i in 0..<n where cfg.rand(2) == 0 { cfg.disconnect(i) }
            case 45..<60:
                let i = cfg.rand(n)
                if cfg.isAlive(i) { cfg.connect(i) }
            case 60..<70:
                let i = cfg.rand(n)
                if cfg.isAlive(i) { cfg.crash(i) }
            case 70..<82:
                let i = cfg.rand(n)
                if !cfg.isAlive(i) { cfg.restart(i) }
            case 82..<90:
                cfg.setUnreliable(cfg.rand(2) == 0)
            case 90..<100:
                cfg.setLongReordering(cfg.rand(3) == 0)
            default:
                cfg.randomMembershipChange()
            }
            try cfg.sleep(Int64(1 + cfg.rand(300)))
        }
        // Heal everything: a leader must appear and a new command commit everywhere.
        cfg.setUnreliable(false)
        cfg.setLongReordering(false)
        cfg.duplicateProbability = 0
        cfg.crashBeforePersistProbability = 0
        for i in 0..<cfg.n where cfg.retired[i] == nil {
            if !cfg.isAlive(i) { cfg.start(i) }
            cfg.connect(i)
        }
        let (_, members) = try cfg.settledMembers()
        let index = try cfg.one(cfg.randInt(), members.count, retry: true)
        for i in members where cfg.retired[i] != nil {
            throw cfg.failed("server \(i) is a member of the final configuration but retired: \(cfg.retired[i]!)")
        }
        // ReadIndex liveness: with everything healed, a read on every member is confirmed.
        let confirmedBefore = cfg.readsConfirmed
        let unread = members.filter { !cfg.startRead($0) }
        if !unread.isEmpty {
            throw cfg.failed("servers \(unread) knew no leader to ask for a read after healing")
        }
        try cfg.sleep(1000)
        if cfg.readsConfirmed - confirmedBefore < members.count {
            throw cfg.failed(
                "\(cfg.readsConfirmed - confirmedBefore) of \(members.count) linearizable reads (one per member) confirmed within 1 s of simulated time after healing")
        }
        if TestSeed.environment("RAFT_VERBOSE") != nil {
            print(
                "randomSimulation seed \(seed): \(cfg.n) servers (\(members.count) members at the end), committed through \(index), \(cfg.now) simulated ms, "
                    + "\(cfg.sched.eventsRun) events, \(cfg.invariants.leaderOfTerm.count) leaders, "
                    + "reads \(cfg.readsConfirmed) confirmed (\(cfg.forwardedReadsConfirmed) forwarded), \(cfg.readsDropped) dropped")
        }
    }
}
