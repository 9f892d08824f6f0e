import RaftTestKit
import Testing

/// 6.824 lab 2A (leader election), ported scenario for scenario onto the simulated cluster.
@Suite struct Reference2ATests {
    @Test func initialElection2A() throws {
        try SimCluster.run("initialElection2A", servers: 3) { cfg in
            // is a leader elected?
            _ = try cfg.checkOneLeader()
            // sleep a bit to avoid racing with followers learning of the election, then check
            // that all peers agree on the term.
            try cfg.sleep(50)
            let term1 = try cfg.checkTerms()
            if term1 < 1 { throw cfg.failed("term is \(term1), but should be at least 1") }
            // does the leader+term stay the same if there is no network failure?
            try cfg.sleep(2 * SimCluster.electionTimeoutMs)
            let term2 = try cfg.checkTerms()
            if term1 != term2 { print("warning: term changed even though there were no failures") }
            // there should still be a leader.
            _ = try cfg.checkOneLeader()
        }
    }

    @Test func reElection2A() throws {
        try SimCluster.run("reElection2A", servers: 3) { cfg in
            let servers = 3
            let leader1 = try cfg.checkOneLeader()
            // if the leader disconnects, a new one should be elected.
            cfg.disconnect(leader1)
            _ = try cfg.checkOneLeader()
            // if the old leader rejoins, that shouldn't disturb the new leader.
            cfg.connect(leader1)
            let leader2 = try cfg.checkOneLeader()
            // if there's no quorum, no new leader should be elected.
            cfg.disconnect(leader2)
            cfg.disconnect((leader2 + 1) % servers)
            try cfg.sleep(2 * SimCluster.electionTimeoutMs)
            // check that the one connected server does not think it is the leader.
            try cfg.checkNoLeader()
            // if a quorum arises, it should elect a leader.
            cfg.connect((leader2 + 1) % servers)
            _ = try cfg.checkOneLeader()
            // re-join of last node shouldn't prevent leader from existing.
            cfg.connect(leader2)
            _ = try cfg.checkOneLeader()
        }
    }

    @Test func manyElections2A() throws {
        try SimCluster.run("manyElections2A", servers: 7) { cfg in
            let servers = 7
            _ = try cfg.checkOneLeader()
            for _ in 1..<10 {
                // disconnect three nodes
                let i1 = cfg.rand(servers)
                let i2 = cfg.rand(servers)
                let i3 = cfg.rand(servers)
                cfg.disconnect(i1)
                cfg.disconnect(i2)
                cfg.disconnect(i3)
                // either the current leader should still be alive, or the remaining four should
                // elect a new one.
                _ = try cfg.checkOneLeader()
                cfg.connect(i1)
                cfg.connect(i2)
                cfg.connect(i3)
            }
            _ = try cfg.checkOneLeader()
        }
    }
}
