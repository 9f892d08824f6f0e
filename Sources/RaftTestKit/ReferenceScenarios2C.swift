import RaftCore

/// 6.824 lab 2C (persistence), ported scenario for scenario onto the simulated cluster.
extension ReferenceScenarios {
    public static func persist12C() throws {
        try SimCluster.run("persist12C", servers: 3) { cfg in
            let servers = 3
            try cfg.one(11, servers, retry: true)
            // crash and re-start all
            for i in 0..<servers { cfg.start(i) }
            for i in 0..<servers {
                cfg.disconnect(i)
                cfg.connect(i)
            }
            try cfg.one(12, servers, retry: true)
            let leader1 = try cfg.checkOneLeader()
            cfg.disconnect(leader1)
            cfg.start(leader1)
            cfg.connect(leader1)
            try cfg.one(13, servers, retry: true)
            let leader2 = try cfg.checkOneLeader()
            cfg.disconnect(leader2)
            try cfg.one(14, servers - 1, retry: true)
            cfg.start(leader2)
            cfg.connect(leader2)
            _ = try cfg.wait(4, servers, -1)  // wait for leader2 to join before killing i3
            let i3 = (try cfg.checkOneLeader() + 1) % servers
            cfg.disconnect(i3)
            try cfg.one(15, servers - 1, retry: true)
            cfg.start(i3)
            cfg.connect(i3)
            try cfg.one(16, servers, retry: true)
        }
    }

    public static func persist22C() throws {
        try SimCluster.run("persist22C", servers: 5) { cfg in
            let servers = 5
            var index = 1
            for _ in 0..<5 {
                try cfg.one(10 + index, servers, retry: true)
                index += 1
                let leader1 = try cfg.checkOneLeader()
                cfg.disconnect((leader1 + 1) % servers)
                cfg.disconnect((leader1 + 2) % servers)
                try cfg.one(10 + index, servers - 2, retry: true)
                index += 1
                cfg.disconnect((leader1 + 0) % servers)
                cfg.disconnect((leader1 + 3) % servers)
                cfg.disconnect((leader1 + 4) % servers)
                cfg.start((leader1 + 1) % servers)
                cfg.start((leader1 + 2) % servers)
                cfg.connect((leader1 + 1) % servers)
                cfg.connect((leader1 + 2) % servers)
                try cfg.sleep(SimCluster.electionTimeoutMs)
                cfg.start((leader1 + 3) % servers)
                cfg.connect((leader1 + 3) % servers)
                try cfg.one(10 + index, servers - 2, retry: true)
                index += 1
                cfg.connect((leader1 + 4) % servers)
                cfg.connect((leader1 + 0) % servers)
            }
            try cfg.one(1000, servers, retry: true)
        }
    }

    /// Partitioned leader and one follower crash, leader restarts.
    public static func persist32C() throws {
        try SimCluster.run("persist32C", servers: 3) { cfg in
            let servers = 3
            try cfg.one(101, 3, retry: true)
            let leader = try cfg.checkOneLeader()
            cfg.disconnect((leader + 2) % servers)
            try cfg.one(102, 2, retry: true)
            cfg.crash((leader + 0) % servers)
            cfg.crash((leader + 1) % servers)
            cfg.connect((leader + 2) % servers)
            cfg.start((leader + 0) % servers)
            cfg.connect((leader + 0) % servers)
            try cfg.one(103, 2, retry: true)
            cfg.start((leader + 1) % servers)
            cfg.connect((leader + 1) % servers)
            try cfg.one(104, servers, retry: true)
        }
    }

    /// The scenarios of Figure 8 of the extended Raft paper: leaders fail quickly (perhaps
    /// without committing) or after a while; a new leader may finish replicating old entries.
    public static func figure82C() throws {
        try SimCluster.run("figure82C", servers: 5) { cfg in
            let servers = 5
            try cfg.one(cfg.randInt(), 1, retry: true)
            var nup = servers
            for _ in 0..<1000 {
                var leader = -1
                for i in 0..<servers where cfg.isAlive(i) {
                    if cfg.startCommand(i, Command.int(cfg.randInt())).isLeader { leader = i }
                }
                if cfg.rand(1000) < 100 {
                    try cfg.sleep(Int64(cfg.rand(Int(SimCluster.electionTimeoutMs / 2))))
                } else {
                    try cfg.sleep(Int64(cfg.rand(13)))
                }
                if leader != -1 {
                    cfg.crash(leader)
                    nup -= 1
                }
                if nup < 3 {
                    let s = cfg.rand(servers)
                    if !cfg.isAlive(s) {
                        cfg.start(s)
                        cfg.connect(s)
                        nup += 1
                    }
                }
            }
            for i in 0..<servers where !cfg.isAlive(i) {
                cfg.start(i)
                cfg.connect(i)
            }
            try cfg.one(cfg.randInt(), servers, retry: true)
        }
    }

    public static func unreliableAgree2C() throws {
        try SimCluster.run("unreliableAgree2C", servers: 5, unreliable: true) { cfg in
            let servers = 5
            var background: [OneOperation] = []
            for iters in 1..<50 {
                for j in 0..<4 {
                    background.append(cfg.startOne(Command.int(100 * iters + j), 1, retry: true))
                }
                try cfg.one(iters, 1, retry: true)
            }
            cfg.setUnreliable(false)
            try cfg.awaitAll(background)
            try cfg.one(100, servers, retry: true)
        }
    }

    public static func figure8Unreliable2C() throws {
        try SimCluster.run("figure8Unreliable2C", servers: 5, unreliable: true) { cfg in
            let servers = 5
            try cfg.one(cfg.rand(10000), 1, retry: true)
            var nup = servers
            for iters in 0..<1000 {
                if iters == 200 { cfg.setLongReordering(true) }
                var leader = -1
                for i in 0..<servers {
                    let ok = cfg.startCommand(i, Command.int(cfg.rand(10000))).isLeader
                    if ok && cfg.connected[i] { leader = i }
                }
                if cfg.rand(1000) < 100 {
                    try cfg.sleep(Int64(cfg.rand(Int(SimCluster.electionTimeoutMs / 2))))
                } else {
                    try cfg.sleep(Int64(cfg.rand(13)))
                }
                if leader != -1 && cfg.rand(1000) < Int(SimCluster.electionTimeoutMs) / 2 {
                    cfg.disconnect(leader)
                    nup -= 1
                }
                if nup < 3 {
                    let s = cfg.rand(servers)
                    if !cfg.connected[s] {
                        cfg.connect(s)
                        nup += 1
                    }
                }
            }
            for i in 0..<servers where !cfg.connected[i] {
                cfg.connect(i)
            }
            try cfg.one(cfg.rand(10000), servers, retry: true)
        }
    }

    public static func reliableChurn2C() throws {
        try churn(name: "reliableChurn2C", unreliable: false)
    }

    public static func unreliableChurn2C() throws {
        try churn(name: "unreliableChurn2C", unreliable: true)
    }

    static func churn(name: String, unreliable: Bool) throws {
        try SimCluster.run(name, servers: 5, unreliable: unreliable) { cfg in
            let servers = 5
            let clients = (0..<3).map { cfg.startChurnClient($0) }
            for _ in 0..<20 {
                if cfg.rand(1000) < 200 {
                    cfg.disconnect(cfg.rand(servers))
                }
                if cfg.rand(1000) < 500 {
                    let i = cfg.rand(servers)
                    if !cfg.isAlive(i) { cfg.start(i) }
                    cfg.connect(i)
                }
                if cfg.rand(1000) < 200 {
                    let i = cfg.rand(servers)
                    if cfg.isAlive(i) { cfg.crash(i) }
                }
                // Make crash/restart infrequent enough that the peers can often keep up, but not
                // so infrequent that everything has settled down from one change to the next.
                try cfg.sleep(SimCluster.electionTimeoutMs * 7 / 10)
            }
            try cfg.sleep(SimCluster.electionTimeoutMs)
            cfg.setUnreliable(false)
            for i in 0..<servers {
                if !cfg.isAlive(i) { cfg.start(i) }
                cfg.connect(i)
            }
            try cfg.stopChurnClients(clients)
            let values = clients.flatMap(\.values)
            try cfg.sleep(SimCluster.electionTimeoutMs)
            let lastIndex = try cfg.one(cfg.randInt(), servers, retry: true)
            var really: [Int] = []
            for index in 1...lastIndex {
                guard let command = try cfg.wait(index, servers, -1), let value = Command.intValue(command) else {
                    throw cfg.failed("not an int")
                }
                really.append(value)
            }
            let committed = Set(really)
            for v1 in values where !committed.contains(v1) {
                throw cfg.failed("didn't find a value")
            }
        }
    }
}
