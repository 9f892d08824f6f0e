import RaftTestKit
import Testing

/// 6.824 lab 2B (log replication), ported scenario for scenario onto the simulated cluster.
@Suite struct Reference2BTests {
    @Test func basicAgree2B() throws {
        try SimCluster.run("basicAgree2B", servers: 3) { cfg in
            for index in 1...3 {
                let (nd, _) = cfg.nCommitted(index)
                if nd > 0 { throw cfg.failed("some have committed before Start()") }
                let xindex = try cfg.one(index * 100, 3, retry: false)
                if xindex != index { throw cfg.failed("got index \(xindex) but expected \(index)") }
            }
        }
    }

    /// Each command is sent to each peer just once (counted in bytes).
    @Test func rpcBytes2B() throws {
        try SimCluster.run("rpcBytes2B", servers: 3) { cfg in
            let servers = 3
            try cfg.one(99, servers, retry: false)
            let bytes0 = cfg.bytesTotal
            var sent = 0
            for index in 2..<12 {
                let command = (0..<5000).map { _ in UInt8(ascii: "a") + UInt8(cfg.rand(26)) }
                let xindex = try cfg.one(command, servers, retry: false)
                if xindex != index { throw cfg.failed("got index \(xindex) but expected \(index)") }
                sent += command.count
            }
            let got = cfg.bytesTotal - bytes0
            let expected = servers * sent
            cfg.note("RPC bytes \(got), bound \(expected + 50_000)")
            if got > expected + 50_000 { throw cfg.failed("too many RPC bytes; got \(got), expected \(expected)") }
        }
    }

    @Test func followerFailure2B() throws {
        try SimCluster.run("followerFailure2B", servers: 3) { cfg in
            let servers = 3
            try cfg.one(101, servers, retry: false)
            // disconnect one follower from the network.
            let leader1 = try cfg.checkOneLeader()
            cfg.disconnect((leader1 + 1) % servers)
            // the leader and remaining follower should be able to agree despite the
            // disconnected follower.
            try cfg.one(102, servers - 1, retry: false)
            try cfg.sleep(SimCluster.electionTimeoutMs)
            try cfg.one(103, servers - 1, retry: false)
            // disconnect the remaining follower
            let leader2 = try cfg.checkOneLeader()
            cfg.disconnect((leader2 + 1) % servers)
            cfg.disconnect((leader2 + 2) % servers)
            // submit a command.
            let (index, _, ok) = cfg.startCommand(leader2, Command.int(104))
            if !ok { throw cfg.failed("leader rejected Start()") }
            if index != 4 { throw cfg.failed("expected index 4, got \(index)") }
            try cfg.sleep(2 * SimCluster.electionTimeoutMs)
            // check that command 104 did not commit.
            let (n, _) = cfg.nCommitted(index)
            if n > 0 { throw cfg.failed("\(n) committed but no majority") }
        }
    }

    @Test func leaderFailure2B() throws {
        try SimCluster.run("leaderFailure2B", servers: 3) { cfg in
            let servers = 3
            try cfg.one(101, servers, retry: false)
            // disconnect the first leader.
            let leader1 = try cfg.checkOneLeader()
            cfg.disconnect(leader1)
            // the remaining followers should elect a new leader.
            try cfg.one(102, servers - 1, retry: false)
            try cfg.sleep(SimCluster.electionTimeoutMs)
            try cfg.one(103, servers - 1, retry: false)
            // disconnect the new leader.
            let leader2 = try cfg.checkOneLeader()
            cfg.disconnect(leader2)
            // submit a command to each server.
            for i in 0..<servers {
                _ = cfg.startCommand(i, Command.int(104))
            }
            try cfg.sleep(2 * SimCluster.electionTimeoutMs)
            // check that command 104 did not commit.
            let (n, _) = cfg.nCommitted(4)
            if n > 0 { throw cfg.failed("\(n) committed but no majority") }
        }
    }

    /// A follower participates after disconnect and re-connect.
    @Test func failAgree2B() throws {
        try SimCluster.run("failAgree2B", servers: 3) { cfg in
            let servers = 3
            try cfg.one(101, servers, retry: false)
            // disconnect one follower from the network.
            let leader = try cfg.checkOneLeader()
            cfg.disconnect((leader + 1) % servers)
            // the leader and remaining follower should be able to agree despite the
            // disconnected follower.
            try cfg.one(102, servers - 1, retry: false)
            try cfg.one(103, servers - 1, retry: false)
            try cfg.sleep(SimCluster.electionTimeoutMs)
            try cfg.one(104, servers - 1, retry: false)
            try cfg.one(105, servers - 1, retry: false)
            // re-connect
            cfg.connect((leader + 1) % servers)
            // the full set of servers should preserve previous agreements, and be able to agree
            // on new commands.
            try cfg.one(106, servers, retry: true)
            try cfg.sleep(SimCluster.electionTimeoutMs)
            try cfg.one(107, servers, retry: true)
        }
    }

    @Test func failNoAgree2B() throws {
        try SimCluster.run("failNoAgree2B", servers: 5) { cfg in
            let servers = 5
            try cfg.one(10, servers, retry: false)
            // 3 of 5 followers disconnect
            let leader = try cfg.checkOneLeader()
            cfg.disconnect((leader + 1) % servers)
            cfg.disconnect((leader + 2) % servers)
            cfg.disconnect((leader + 3) % servers)
            let (index, _, ok) = cfg.startCommand(leader, Command.int(20))
            if !ok { throw cfg.failed("leader rejected Start()") }
            if index != 2 { throw cfg.failed("expected index 2, got \(index)") }
            try cfg.sleep(2 * SimCluster.electionTimeoutMs)
            let (n, _) = cfg.nCommitted(index)
            if n > 0 { throw cfg.failed("\(n) committed but no majority") }
            // repair
            cfg.connect((leader + 1) % servers)
            cfg.connect((leader + 2) % servers)
            cfg.connect((leader + 3) % servers)
            // the disconnected majority may have chosen a leader from among their own ranks,
            // forgetting index 2.
            let leader2 = try cfg.checkOneLeader()
            let (index2, _, ok2) = cfg.startCommand(leader2, Command.int(30))
            if !ok2 { throw cfg.failed("leader2 rejected Start()") }
            if index2 < 2 || index2 > 3 { throw cfg.failed("unexpected index \(index2)") }
            try cfg.one(1000, servers, retry: true)
        }
    }

    @Test func concurrentStarts2B() throws {
        try SimCluster.run("concurrentStarts2B", servers: 3) { cfg in
            let servers = 3
            var success = false
            tries: for attempt in 0..<5 {
                if attempt > 0 {
                    // give solution some time to settle
                    try cfg.sleep(3000)
                }
                let leader = try cfg.checkOneLeader()
                let (_, term, ok) = cfg.startCommand(leader, Command.int(1))
                if !ok {
                    // leader moved on really quickly
                    continue
                }
                var indices: [Int] = []
                for i in 0..<5 {
                    let (index, term1, ok1) = cfg.startCommand(leader, Command.int(100 + i))
                    if term1 != term || !ok1 { continue }
                    indices.append(index)
                }
                for j in 0..<servers where cfg.getState(j).term != term {
                    // term changed -- can't expect low RPC counts
                    continue tries
                }
                var failed = false
                var commands: [Int] = []
                for index in indices {
                    guard let command = try cfg.wait(index, servers, term) else {
                        // peers have moved on to later terms so we can't expect all Start()s to
                        // have succeeded
                        failed = true
                        break
                    }
                    guard let value = Command.intValue(command) else {
                        throw cfg.failed("value \(Command.describe(command)) is not an int")
                    }
                    commands.append(value)
                }
                if failed { continue }
                for i in 0..<5 where !commands.contains(100 + i) {
                    throw cfg.failed("cmd \(100 + i) missing in \(commands)")
                }
                success = true
                break
            }
            if !success { throw cfg.failed("term changed too often") }
        }
    }

    @Test func rejoin2B() throws {
        try SimCluster.run("rejoin2B", servers: 3) { cfg in
            let servers = 3
            try cfg.one(101, servers, retry: true)
            // leader network failure
            let leader1 = try cfg.checkOneLeader()
            cfg.disconnect(leader1)
            // make old leader try to agree on some entries
            _ = cfg.startCommand(leader1, Command.int(102))
            _ = cfg.startCommand(leader1, Command.int(103))
            _ = cfg.startCommand(leader1, Command.int(104))
            // new leader commits, also for index=2
            try cfg.one(103, 2, retry: true)
            // new leader network failure
            let leader2 = try cfg.checkOneLeader()
            cfg.disconnect(leader2)
            // old leader connected again
            cfg.connect(leader1)
            try cfg.one(104, 2, retry: true)
            // all together now
            cfg.connect(leader2)
            try cfg.one(105, servers, retry: true)
        }
    }

    /// The leader backs up quickly over incorrect follower logs.
    @Test func backup2B() throws {
        try SimCluster.run("backup2B", servers: 5) { cfg in
            let servers = 5
            try cfg.one(cfg.randInt(), servers, retry: true)
            // put leader and one follower in a partition
            let leader1 = try cfg.checkOneLeader()
            cfg.disconnect((leader1 + 2) % servers)
            cfg.disconnect((leader1 + 3) % servers)
            cfg.disconnect((leader1 + 4) % servers)
            // submit lots of commands that won't commit
            for _ in 0..<50 {
                _ = cfg.startCommand(leader1, Command.int(cfg.randInt()))
            }
            try cfg.sleep(SimCluster.electionTimeoutMs / 2)
            cfg.disconnect((leader1 + 0) % servers)
            cfg.disconnect((leader1 + 1) % servers)
            // allow other partition to recover
            cfg.connect((leader1 + 2) % servers)
            cfg.connect((leader1 + 3) % servers)
            cfg.connect((leader1 + 4) % servers)
            // lots of successful commands to new group.
            for _ in 0..<50 {
                try cfg.one(cfg.randInt(), 3, retry: true)
            }
            // now another partitioned leader and one follower
            let leader2 = try cfg.checkOneLeader()
            var other = (leader1 + 2) % servers
            if leader2 == other { other = (leader2 + 1) % servers }
            cfg.disconnect(other)
            // lots more commands that won't commit
            for _ in 0..<50 {
                _ = cfg.startCommand(leader2, Command.int(cfg.randInt()))
            }
            try cfg.sleep(SimCluster.electionTimeoutMs / 2)
            // bring original leader back to life,
            for i in 0..<servers { cfg.disconnect(i) }
            cfg.connect((leader1 + 0) % servers)
            cfg.connect((leader1 + 1) % servers)
            cfg.connect(other)
            // lots of successful commands to new group.
            for _ in 0..<50 {
                try cfg.one(cfg.randInt(), 3, retry: true)
            }
            // now everyone
            for i in 0..<servers { cfg.connect(i) }
            try cfg.one(cfg.randInt(), servers, retry: true)
        }
    }

    /// RPC counts aren't too high.
    @Test func count2B() throws {
        try SimCluster.run("count2B", servers: 3) { cfg in
            let servers = 3
            func rpcs() -> Int { (0..<servers).reduce(0) { $0 + cfg.rpcCount($1) } }
            _ = try cfg.checkOneLeader()
            var total1 = rpcs()
            cfg.note("RPCs to elect initial leader: \(total1), bound 30")
            if total1 > 30 || total1 < 1 {
                throw cfg.failed("too many or few RPCs (\(total1)) to elect initial leader")
            }
            var total2 = 0
            var success = false
            tries: for attempt in 0..<5 {
                if attempt > 0 {
                    // give solution some time to settle
                    try cfg.sleep(3000)
                }
                let leader = try cfg.checkOneLeader()
                total1 = rpcs()
                let iters = 10
                let (starti, term, ok) = cfg.startCommand(leader, Command.int(1))
                if !ok {
                    // leader moved on really quickly
                    continue
                }
                var commands: [Int] = []
                for i in 1..<(iters + 2) {
                    let x = cfg.rand(Int(Int32.max))
                    commands.append(x)
                    let (index1, term1, ok1) = cfg.startCommand(leader, Command.int(x))
                    if term1 != term || !ok1 { continue tries }
                    if starti + i != index1 { throw cfg.failed("Start() failed") }
                }
                for i in 1..<(iters + 1) {
                    guard let command = try cfg.wait(starti + i, servers, term) else {
                        // term changed -- try again
                        continue tries
                    }
                    if Command.intValue(command) != commands[i - 1] {
                        throw cfg.failed(
                            "wrong value \(Command.describe(command)) committed for index \(starti + i); expected \(commands)")
                    }
                }
                var failed = false
                total2 = 0
                for j in 0..<servers {
                    if cfg.getState(j).term != term {
                        // term changed -- can't expect low RPC counts
                        failed = true
                    }
                    total2 += cfg.rpcCount(j)
                }
                if failed { continue }
                cfg.note("RPCs for \(iters) entries: \(total2 - total1), bound \((iters + 1 + 3) * 3)")
                if total2 - total1 > (iters + 1 + 3) * 3 {
                    throw cfg.failed("too many RPCs (\(total2 - total1)) for \(iters) entries")
                }
                success = true
                break
            }
            if !success { throw cfg.failed("term changed too often") }
            try cfg.sleep(SimCluster.electionTimeoutMs)
            let total3 = rpcs()
            cfg.note("RPCs in 1 s idle: \(total3 - total2), bound 60")
            if total3 - total2 > 3 * 20 {
                throw cfg.failed("too many RPCs (\(total3 - total2)) for 1 second of idleness")
            }
        }
    }
}
