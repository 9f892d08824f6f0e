import RaftCore

/// 6.824 lab 2D (log compaction), ported scenario for scenario onto the simulated cluster; the
/// servers run the snapshotting applier (a snapshot every 10 entries).
extension ReferenceScenarios {
    static func snapcommon(_ name: String, disconnect: Bool, reliable: Bool, crash: Bool) throws {
        try SimCluster.run(name, servers: 3, unreliable: !reliable, snapshot: true) { cfg in
            let servers = 3
            let iters = 30
            try cfg.one(cfg.randInt(), servers, retry: true)
            var leader1 = try cfg.checkOneLeader()
            for i in 0..<iters {
                var victim = (leader1 + 1) % servers
                var sender = leader1
                if i % 3 == 1 {
                    sender = (leader1 + 1) % servers
                    victim = leader1
                }
                if disconnect {
                    cfg.disconnect(victim)
                    try cfg.one(cfg.randInt(), servers - 1, retry: true)
                }
                if crash {
                    cfg.crash(victim)
                    try cfg.one(cfg.randInt(), servers - 1, retry: true)
                }
                // perhaps send enough to get a snapshot
                let nn = Int(SimCluster.snapshotInterval) / 2 + cfg.rand(Int(SimCluster.snapshotInterval))
                for _ in 0..<nn {
                    _ = cfg.startCommand(sender, Command.int(cfg.randInt()))
                }
                // let applier threads catch up with the Start()'s
                if !disconnect && !crash {
                    // make sure all followers have caught up, so that an InstallSnapshot RPC
                    // isn't required for snapshotBasic2D.
                    try cfg.one(cfg.randInt(), servers, retry: true)
                } else {
                    try cfg.one(cfg.randInt(), servers - 1, retry: true)
                }
                cfg.note("persisted raft state \(cfg.logSize()) bytes, bound \(SimCluster.maxLogSize)")
                if cfg.logSize() >= SimCluster.maxLogSize {
                    throw cfg.failed("Log size too large (\(cfg.logSize()) bytes)")
                }
                if disconnect {
                    // reconnect a follower, who maybe behind and needs to receive a snapshot to
                    // catch up.
                    cfg.connect(victim)
                    try cfg.one(cfg.randInt(), servers, retry: true)
                    leader1 = try cfg.checkOneLeader()
                }
                if crash {
                    cfg.start(victim)
                    cfg.connect(victim)
                    try cfg.one(cfg.randInt(), servers, retry: true)
                    leader1 = try cfg.checkOneLeader()
                }
            }
        }
    }

    public static func snapshotBasic2D() throws {
        try snapcommon("snapshotBasic2D", disconnect: false, reliable: true, crash: false)
    }

    public static func snapshotInstall2D() throws {
        try snapcommon("snapshotInstall2D", disconnect: true, reliable: true, crash: false)
    }

    public static func snapshotInstallUnreliable2D() throws {
        try snapcommon("snapshotInstallUnreliable2D", disconnect: true, reliable: false, crash: false)
    }

    public static func snapshotInstallCrash2D() throws {
        try snapcommon("snapshotInstallCrash2D", disconnect: false, reliable: true, crash: true)
    }

    public static func snapshotInstallUnCrash2D() throws {
        try snapcommon("snapshotInstallUnCrash2D", disconnect: false, reliable: false, crash: true)
    }

    /// Do the servers persist the snapshots, and restart using snapshot along with the tail of
    /// the log?
    public static func snapshotAllCrash2D() throws {
        try SimCluster.run("snapshotAllCrash2D", servers: 3, snapshot: true) { cfg in
            let servers = 3
            try cfg.one(cfg.randInt(), servers, retry: true)
            for _ in 0..<5 {
                // perhaps enough to get a snapshot
                let nn = Int(SimCluster.snapshotInterval) / 2 + cfg.rand(Int(SimCluster.snapshotInterval))
                for _ in 0..<nn {
                    try cfg.one(cfg.randInt(), servers, retry: true)
                }
                let index1 = try cfg.one(cfg.randInt(), servers, retry: true)
                // crash all
                for i in 0..<servers { cfg.crash(i) }
                // revive all
                for i in 0..<servers {
                    cfg.start(i)
                    cfg.connect(i)
                }
                let index2 = try cfg.one(cfg.randInt(), servers, retry: true)
                if index2 < index1 + 1 { throw cfg.failed("index decreased from \(index1) to \(index2)") }
            }
        }
    }

    /// Do servers correctly initialize their in-memory copy of the snapshot, making sure that
    /// future writes to persistent state don't lose state?
    public static func snapshotInit2D() throws {
        try SimCluster.run("snapshotInit2D", servers: 3, snapshot: true) { cfg in
            let servers = 3
            try cfg.one(cfg.randInt(), servers, retry: true)
            // enough ops to make a snapshot
            for _ in 0..<(Int(SimCluster.snapshotInterval) + 1) {
                try cfg.one(cfg.randInt(), servers, retry: true)
            }
            // crash all
            for i in 0..<servers { cfg.crash(i) }
            // revive all
            for i in 0..<servers {
                cfg.start(i)
                cfg.connect(i)
            }
            // a single op, to get something to be written back to persistent storage.
            try cfg.one(cfg.randInt(), servers, retry: true)
            for i in 0..<servers { cfg.crash(i) }
            for i in 0..<servers {
                cfg.start(i)
                cfg.connect(i)
            }
            // do another op to trigger potential bug
            try cfg.one(cfg.randInt(), servers, retry: true)
        }
    }
}
