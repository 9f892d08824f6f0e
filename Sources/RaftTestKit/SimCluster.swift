import RaftCore
import RaftMessages

/// One running instance of a simulated server: a `RawNode` and the driver loop around it.
final class SimServer {
    let index: Int
    let generation: Int
    let node: RawNode
    /// The persister this instance writes to (replaced by a copy when the instance crashes).
    let storage: any SimPersister
    var alive = true
    var readyScheduled = false
    /// This instance applies slowly: one committed entry per `Ready`, and other events run
    /// between two of its `Ready`s (randomized simulation).
    var slowApply = false
    /// A `Ready` whose write is in flight (asynchronous persistence): the node keeps stepping
    /// and sends its urgent messages; the rest waits until the write completes.
    var writing: Ready?

    init(index: Int, generation: Int, node: RawNode, storage: any SimPersister) {
        self.index = index
        self.generation = generation
        self.node = node
        self.storage = storage
    }
}

/// A port of the 6.824 Raft tester (`config.go` + `labrpc`) onto simulated time.
///
/// Servers are numbered `0..<n` as in the Go tester; server `i` is Raft node `i + 1`. Each server
/// is a `RawNode` driven by a loop that ticks every `tickMs`, and, after every input, persists
/// the `Ready` into its in-memory persister (a `MemoryStorage`) *before* sending its messages,
/// then applies committed entries to the tester's applier and calls `advance`.
///
/// The network reproduces labrpc: a request message is an RPC call and the response the
/// receiver produces while handling it is the call's reply. Unreliable mode delays requests
/// 0–26 ms and drops 10% of requests and 10% of replies (after the handler ran); long reordering
/// delays 2/3 of replies by 200 + rand(1 + rand(2000)) ms; a call to a disconnected or dead server
/// never gets a reply (labrpc fails it after up to 7 s; the core never waits on a reply, so that
/// is the same as silence). Byte counters add request bytes at send and reply bytes at delivery;
/// RPC counts are requests dispatched to a server.
public final class SimCluster {
    /// Driver tick: 10 ms. Heartbeats every 10 ticks (10 per second, the tester's limit);
    /// election timeouts 300–600 ms (30 ticks, randomized up to 60), so a new leader appears
    /// well within the tester's 5 s.
    ///
    /// The servers run with pre-vote and check-quorum on, as in production: the scenarios pass
    /// with them, and they keep a rejoining or partitioned server from deposing a working leader.
    /// The one production setting the tester cannot use is `noopOnElection`: a no-op entry at the
    /// start of each term shifts the indices the tester expects (BasicAgree's 1, 2, 3; FailNoAgree's
    /// 2 or 3) and the applier requires consecutive command indices, so it is off here.
    public static let tickMs: Int64 = 10
    /// MAXLOGSIZE of 2D.
    public static let maxLogSize = 2000
    public static let snapshotInterval: UInt64 = 10
    /// The Go tester's `RaftElectionTimeout`.
    public static let electionTimeoutMs: Int64 = 1000

    /// Servers so far: the initial ones, then any added with `addServer()`.
    public private(set) var n: Int
    public let name: String
    public let seed: UInt64
    let snapshotMode: Bool
    var rng: SplitMix64
    let sched = Scheduler()

    var servers: [SimServer?]
    var persisters: [(any SimPersister)?]
    let persisterFactory: PersisterFactory
    public private(set) var connected: [Bool]
    var generations: [Int]
    var reliable: Bool
    var longReordering = false
    /// Probability that the network delivers a request twice (not in labrpc; used by the
    /// randomized simulation).
    public var duplicateProbability = 0.0
    /// Chance that a server crashes after sending a `Ready`'s early messages and before
    /// persisting its entries (randomized simulation).
    public var crashBeforePersistProbability = 0.0
    /// Chance that a (re)started server applies slowly: one committed entry per `Ready`, a few
    /// milliseconds apart, so that ticks and messages come between learning that an entry is
    /// committed and applying it (randomized simulation).
    public var slowApplyProbability = 0.0
    /// The chance that persisting a `Ready` (or rebuilding the state machine from a snapshot)
    /// takes 1–20 ms of simulated time, during which the node keeps stepping messages and ticks
    /// (as the real node does while its disk works) and sends only
    /// `RawNode.takeUrgentMessages()` (randomized simulation).
    public var asyncPersistProbability = 0.0
    /// The snapshotting applier snapshots after applying index i when (i + 1) % interval == 0.
    public var snapshotEvery: UInt64 = SimCluster.snapshotInterval
    /// Check the Figure 3 safety properties after every event (randomized simulation).
    public var checkInvariants = false
    /// Run as the real node does with membership changes in mind: the first configuration is
    /// written into the log (`RawNode.bootstrap`, so members added later learn it from the log),
    /// and servers announce their own records (addresses, incarnation). Off for the reference
    /// scenarios, which count every entry from index 1.
    public let membershipMode: Bool
    var invariants = Invariants()

    /// What each server applied, index → command; survives restarts (6.824 `cfg.logs`).
    var logs: [[UInt64: [UInt8]]]
    var lastApplied: [UInt64]
    public private(set) var maxIndex: UInt64 = 0
    /// Reads asked for and not yet confirmed: request id → `maxIndex` when asked.
    private var pendingReads: [UInt64: UInt64] = [:]
    private var nextReadID: UInt64 = 1
    /// Reads confirmed so far (each checked against its floor), and those of them a follower
    /// or learner asked (forwarded to the leader).
    public private(set) var readsConfirmed = 0
    public private(set) var forwardedReadsConfirmed = 0
    /// Reads the core gave up on (`Ready.droppedReads`).
    public private(set) var readsDropped = 0
    var failure: String?
    private var eventsAtSameTime = 0

    var rpcCounts: [Int]
    /// Requests sent, by kind (diagnostics for `RAFT_VERBOSE`).
    public private(set) var sentByKind: [String: Int] = [:]
    var bytes = 0
    var totalRPCs = 0

    /// The voters of the initial configuration (servers `0..<initialCount`).
    let voterIDs: [UInt64]
    let initialCount: Int
    /// Each server's incarnation (`Member.incarnation`): new with each fresh persister.
    private(set) var incarnations: [UInt64]
    /// Servers that stopped for good: removed from the cluster, or refused by it.
    public private(set) var retired: [String?]
    /// The configuration every server runs with (see README: no no-op entry, because the
    /// tester expects the first command at index 1 and consecutive indices).
    public var nodeConfig: Config

    /// Simulated milliseconds since the start.
    public var now: Int64 { sched.now }

    public init(
        name: String, servers n: Int, unreliable: Bool, snapshot: Bool, seed: UInt64? = nil,
        persister: PersisterFactory = PersisterFactory.current(), membershipMode: Bool = false
    ) {
        self.persisterFactory = persister
        self.membershipMode = membershipMode
        self.n = n
        self.name = name
        self.seed = seed ?? TestSeed.make()
        self.snapshotMode = snapshot
        self.rng = SplitMix64(seed: self.seed)
        self.reliable = !unreliable
        voterIDs = (0..<n).map { UInt64($0 + 1) }
        initialCount = n
        incarnations = Array(repeating: 0, count: n)
        retired = Array(repeating: nil, count: n)
        nodeConfig = Config(
            id: 1, voters: voterIDs, electionTick: 30, heartbeatTick: 10, maxSizePerMsg: 64 * 1024,
            maxEntriesPerMsg: 64, maxInflightMsgs: 8, maxSnapshotChunkBytes: 512, maxSnapshotChunksInFlight: 4,
            preVote: true, checkQuorum: true, noopOnElection: false)
        servers = Array(repeating: nil, count: n)
        persisters = Array(repeating: nil, count: n)
        connected = Array(repeating: false, count: n)
        generations = Array(repeating: 0, count: n)
        logs = Array(repeating: [:], count: n)
        lastApplied = Array(repeating: 0, count: n)
        rpcCounts = Array(repeating: 0, count: n)
        for i in 0..<n {
            start(i)
            connect(i)
        }
    }

    /// Ends the run: drops pending events (and with them the reference cycles they hold).
    public func cleanup() {
        sched.clear()
        servers = Array(repeating: nil, count: n)
        persisters = Array(repeating: nil, count: n)
        persisterFactory.cleanup()
    }

    // MARK: Randomness (one stream for network and test choices: a seed replays everything)

    /// Go's `rand.Int() % bound`.
    public func rand(_ bound: Int) -> Int {
        Int.random(in: 0..<bound, using: &rng)
    }

    /// Go's `rand.Int()`.
    public func randInt() -> Int {
        Int(rng.next() >> 1)
    }

    // MARK: Failures

    /// The error thrown for a failed check.
    public func failed(_ message: String) -> TesterFailure {
        TesterFailure(
            description: """
                \(name) failed at simulated \(now) ms: \(message)
                seed \(seed); replay with: RAFT_SEED=\(seed) swift test --filter \(name)
                """ + (membershipMode ? "\n" + describeServers() : ""))
    }

    /// One line per server: what a failure report needs to tell a membership bug apart.
    func describeServers() -> String {
        (0..<n).map { i in
            guard let node = servers[i]?.node else {
                return "server \(i): down\(retired[i].map { " (retired: \($0))" } ?? "")"
            }
            let c = node.configuration
            return "server \(i): \(node.role) term \(node.term) lead \(node.leaderID) "
                + "transferee \(node.status.leadTransferee) commit \(node.commitIndex) "
                + "applied \(node.appliedIndex) last \(node.lastIndex) connected \(connected[i]) voters \(c.voterIDs) "
                + "outgoing \(c.outgoingVoterIDs) learners \(c.learnerIDs) removed \(c.removedIDs)"
                + (servers[i]!.writing != nil ? " (a write in flight)" : "")
        }.joined(separator: "\n")
    }

    /// Prints `message` when `RAFT_VERBOSE` is set (bounds' margins, progress).
    public func note(_ message: @autoclosure () -> String) {
        if TestSeed.environment("RAFT_VERBOSE") != nil { print("\(name) [\(now) ms]: \(message())") }
    }

    func record(_ message: String) {
        if failure == nil { failure = message }
    }

    func checkFailure() throws {
        if let failure { throw failed(failure) }
    }

    // MARK: Time

    /// Runs the simulation for `ms` simulated milliseconds.
    public func sleep(_ ms: Int64) throws {
        let target = now + ms
        try run(until: target) { false }
        sched.advance(to: target)
    }

    /// Runs events until `done()` holds (checked after every event) or `deadline` passes.
    func run(until deadline: Int64 = .max, _ done: () -> Bool) throws {
        try checkFailure()
        while !done() {
            guard let next = sched.nextTime, next <= deadline else { return }
            if next > 120_000 {
                throw failed("test took longer than 120 seconds of simulated time")
            }
            if next == sched.now {
                eventsAtSameTime += 1
                if eventsAtSameTime > 1_000_000 {
                    throw failed("livelock: a million events without simulated time advancing")
                }
            } else {
                eventsAtSameTime = 0
            }
            sched.runNext()
            if checkInvariants { checkLeaders() }
            try checkFailure()
        }
    }

    // MARK: Servers

    private func config(for i: Int, slowApply: Bool = false) -> Config {
        var config = nodeConfig
        if slowApply { config.maxCommittedSizePerReady = 1 }
        config.id = UInt64(i + 1)
        // Servers added later join a running cluster: their configuration comes from the leader.
        config.voters = i < initialCount && !membershipMode ? voterIDs : []
        config.member = membershipMode ? member(i) : nil
        config.randomSeed = seed &+ UInt64(i) &* 0x1000_0001 &+ UInt64(generations[i]) &* 0x9E37_79B9
        return config
    }

    /// 6.824 `crash1`: disconnect, kill, and keep a copy of the persister so that nothing the
    /// dead instance might still do reaches the state a restart reads.
    public func crash(_ i: Int) {
        disconnect(i)
        if let server = servers[i] {
            server.alive = false
            servers[i] = nil
        }
        persisters[i] = persister(afterCrashOf: i)
    }

    /// The persister a new instance of server `i` reads: a fresh one, or what survives a crash.
    private func persister(afterCrashOf i: Int) -> (any SimPersister)? {
        do {
            if let old = persisters[i] { return try persisterFactory.crash(i, old) }
            incarnations[i] = UInt64(truncatingIfNeeded: rng.next()) | 1
            return try persisterFactory.make(i, i < initialCount && !membershipMode ? voterIDs : [])
        } catch {
            record("server \(i): persister failed: \(error)")
            return nil
        }
    }

    /// 6.824 `start1`: crash, then make a fresh instance from a copy of the persister. A persisted
    /// snapshot is loaded into the tester's applier record directly. Connecting is separate.
    public func start(_ i: Int) {
        crash(i)
        generations[i] += 1
        lastApplied[i] = 0
        guard let storage = persister(afterCrashOf: i) else { return }
        persisters[i] = storage
        let currentSnapshot = (try? storage.loadSnapshot()) ?? Snapshot()
        if !currentSnapshot.isEmpty {
            if let error = ingestSnapshot(i, currentSnapshot.data, index: nil) {
                record(error)
            }
        }
        let node: RawNode
        let slow = slowApplyProbability > 0 && Double(rand(1_000_000)) < slowApplyProbability * 1_000_000
        do {
            node = try RawNode(config: config(for: i, slowApply: slow), storage: storage)
            if membershipMode && i < initialCount && node.lastIndex == 0 && node.term == 0 {
                try node.bootstrap(voterIDs.map { Member(id: $0, peerAddress: "peer-\($0)", clientAddress: "client-\($0)") })
            }
        } catch {
            record("server \(i) failed to start: \(error)")
            return
        }
        let server = SimServer(index: i, generation: generations[i], node: node, storage: storage)
        server.slowApply = slow
        servers[i] = server
        sched.schedule(after: Int64(rand(Int(Self.tickMs))) + 1) { [unowned self] in self.tick(server) }
    }

    /// Restart = start + connect (2C). A retired server stays down.
    public func restart(_ i: Int) {
        guard retired[i] == nil else { return }
        start(i)
        connect(i)
    }

    // MARK: Membership

    /// Server `i`'s record, as its `raft.Member` (simulated addresses).
    public func member(_ i: Int, learner: Bool = false) -> Member {
        Member(
            id: UInt64(i + 1), peerAddress: "peer-\(i + 1)", clientAddress: "client-\(i + 1)", learner: learner,
            incarnation: incarnations[i])
    }

    /// Adds a server slot for a member that will join the running cluster (its id is `n + 1`,
    /// never used before); it starts with an empty persister, and with `start` it runs and is
    /// connected at once, else it stays down (a member added to the configuration but never
    /// started).
    @discardableResult
    public func addServer(start: Bool = true) -> Int {
        let i = n
        n += 1
        servers.append(nil)
        persisters.append(nil)
        connected.append(false)
        generations.append(0)
        logs.append([:])
        lastApplied.append(0)
        rpcCounts.append(0)
        incarnations.append(0)
        retired.append(nil)
        if start {
            self.start(i)
            connect(i)
        } else {
            persisters[i] = persister(afterCrashOf: i)
        }
        return i
    }

    /// Stops server `i` for good: the cluster removed or refused it (`reason`).
    func retire(_ i: Int, _ reason: String) {
        guard retired[i] == nil else { return }
        note("server \(i) retires: \(reason)")
        crash(i)
        retired[i] = reason
    }

    /// What the peer transport would refuse: a message from a member the receiver's applied
    /// configuration removed, or whose incarnation differs from the one it records. The refused
    /// sender is told (`MemberRefused`; of its removal, only by a voter) and stops for good.
    private func refuses(_ receiver: SimServer, _ message: Message) -> Bool {
        let configuration = receiver.node.configuration
        let sender = Int(message.from) - 1
        if configuration.isRemoved(message.from)
            && !RawNode.isHandOver(message, leader: receiver.node.leaderID, term: receiver.node.term)
        {
            if configuration.isVoter(receiver.node.id) {
                retire(sender, "refused by server \(receiver.index): removed")
            }
            return true
        }
        if let recorded = configuration.member(message.from)?.incarnation, recorded != 0, recorded != incarnations[sender] {
            retire(sender, "refused by server \(receiver.index): incarnation \(incarnations[sender]), recorded \(recorded)")
            return true
        }
        return false
    }

    public func connect(_ i: Int) {
        connected[i] = true
    }

    public func disconnect(_ i: Int) {
        connected[i] = false
    }

    public func setUnreliable(_ unreliable: Bool) {
        reliable = !unreliable
    }

    public func setLongReordering(_ on: Bool) {
        longReordering = on
    }

    public func isAlive(_ i: Int) -> Bool {
        servers[i] != nil
    }

    private func isCurrent(_ server: SimServer) -> Bool {
        server.alive && servers[server.index] === server
    }

    private func tick(_ server: SimServer) {
        guard isCurrent(server) else { return }
        server.node.tick()
        processReady(server)
        sched.schedule(after: Self.tickMs) { [unowned self] in self.tick(server) }
    }

    // MARK: The tester's API (Start, GetState)

    /// `Start(command)`: (index, term, isLeader), returning at once. The entries go out when the
    /// driver next processes `Ready` (so proposals made together travel together).
    public func startCommand(_ i: Int, _ command: [UInt8]) -> (index: Int, term: Int, isLeader: Bool) {
        guard let server = servers[i] else { return (-1, -1, false) }
        do {
            let index = try server.node.propose(command)
            scheduleReady(server)
            return (Int(index), Int(server.node.term), true)
        } catch {
            return (-1, Int(server.node.term), false)
        }
    }

    /// Asks server `i` for a linearizable read (ReadIndex, thesis §6.4; a follower or learner
    /// forwards it to the leader); false if it knows no leader. When the read is confirmed its
    /// index must be at least the highest index any server had applied when it was asked (every
    /// write acknowledged before the read): a lower one is a stale read and fails the run.
    @discardableResult
    public func startRead(_ i: Int) -> Bool {
        guard let server = servers[i], isCurrent(server) else { return false }
        let id = nextReadID
        nextReadID += 1
        do {
            try server.node.readIndex(id)
        } catch {
            return false
        }
        pendingReads[id] = maxIndex
        scheduleReady(server)
        return true
    }

    /// `GetState()`: (term, isLeader) of a live server.
    public func getState(_ i: Int) -> (term: Int, isLeader: Bool) {
        guard let server = servers[i] else { return (-1, false) }
        return (Int(server.node.term), server.node.isLeader)
    }

    /// The node of a live server, for inspection.
    public func node(_ i: Int) -> RawNode? {
        servers[i]?.node
    }

    func scheduleReady(_ server: SimServer) {
        guard !server.readyScheduled else { return }
        server.readyScheduled = true
        sched.schedule(after: 0) { [unowned self] in
            server.readyScheduled = false
            if self.isCurrent(server) { self.processReady(server) }
        }
    }

    // MARK: The driver loop

    /// Persist, send, apply, advance — in `Ready`'s documented order. Responses addressed to
    /// `replyTo` are the replies of the RPC being handled and go to `onReply`.
    private func processReady(_ server: SimServer, replyTo: UInt64? = nil, onReply: ((Message) -> Void)? = nil) {
        if server.writing != nil {
            // A write is in flight: heartbeats and the leader's appends leave now, the rest
            // comes with the next `Ready`.
            for message in server.node.takeUrgentMessages() { send(message, from: server) }
            return
        }
        var handled = 0
        while isCurrent(server) && server.node.hasReady {
            if server.slowApply && handled > 0 {
                // A slow applier gets to the rest a little later.
                if !server.readyScheduled {
                    server.readyScheduled = true
                    sched.schedule(after: Int64(1 + rand(40))) { [unowned self] in
                        server.readyScheduled = false
                        if self.isCurrent(server) { self.processReady(server) }
                    }
                }
                break
            }
            handled += 1
            let ready = server.node.ready()
            // The leader's requests leave before its own write (thesis §10.2.1) ...
            for message in ready.messages { send(message, from: server) }
            // ... so a crash may come between the two: the followers hold entries the leader
            // never wrote.
            if crashBeforePersistProbability > 0, !ready.entries.isEmpty,
                Double(rand(1_000_000)) < crashBeforePersistProbability * 1_000_000
            {
                crash(server.index)
                return
            }
            if asyncPersistProbability > 0, ready.snapshotChunks.isEmpty,
                ready.hardState != nil || !ready.entries.isEmpty || ready.snapshot != nil,
                Double(rand(1_000_000)) < asyncPersistProbability * 1_000_000
            {
                var held = ready
                if ready.snapshot != nil {
                    // As the real node: a leader's snapshot is stored and acknowledged at once,
                    // and rebuilding the state machine from it takes a while.
                    guard persist(server, ready) else { return }
                    sendAfterPersist(ready, from: server, replyTo: replyTo, onReply: onReply)
                    held.messagesAfterPersist = []
                }
                // The write (or the rebuild) takes a while, and the node goes on meanwhile; a
                // crash before a write completes loses it (the persister never saw it).
                server.writing = held
                sched.schedule(after: Int64(1 + rand(20))) { [unowned self] in
                    guard self.isCurrent(server), let held = server.writing else { return }
                    server.writing = nil
                    if held.snapshot == nil {
                        guard self.persist(server, held) else { return }
                        self.sendAfterPersist(held, from: server, replyTo: nil, onReply: nil)
                    }
                    self.applyReady(server, held)
                    self.processReady(server)
                }
                return
            }
            guard persist(server, ready) else { return }
            sendAfterPersist(ready, from: server, replyTo: replyTo, onReply: onReply)
            applyReady(server, ready)
        }
        if isCurrent(server) && server.node.removalIsKnownToLeader {
            // raft-node exits once it applied its own removal and a leader has committed it;
            // before that the others may still need its vote.
            retire(server.index, "removed by a configuration change it applied")
        }
    }

    /// Ready step 1: persist. False if it failed.
    private func persist(_ server: SimServer, _ ready: Ready) -> Bool {
        do {
            try server.storage.stageSnapshotChunks(ready.snapshotChunks)
            if let snapshot = ready.snapshot { try server.storage.applySnapshot(snapshot) }
            if checkInvariants { checkAppend(server, ready.entries) }
            try server.storage.append(ready.entries)
        } catch {
            record("server \(server.index): persisting failed: \(error)")
            return false
        }
        do {
            if let hardState = ready.hardState { try server.storage.setHardState(hardState) }
        } catch {
            record("server \(server.index): persisting failed: \(error)")
            return false
        }
        return true
    }

    /// Ready step 2: what waited for the write.
    private func sendAfterPersist(
        _ ready: Ready, from server: SimServer, replyTo: UInt64?, onReply: ((Message) -> Void)?
    ) {
        for message in ready.messagesAfterPersist {
            if let replyTo, let onReply, message.to == replyTo, !message.body.isRequest {
                onReply(message)
            } else {
                send(message, from: server)
            }
        }
    }

    /// Ready steps 3–4: restore the snapshot, apply, answer reads, advance.
    private func applyReady(_ server: SimServer, _ ready: Ready) {
        if let snapshot = ready.snapshot {
            // A streamed snapshot's bytes are the ones its chunks assembled in the storage.
            let data = snapshot.isStreamed ? ((try? server.storage.loadSnapshot().data) ?? []) : snapshot.data
            if let error = ingestSnapshot(server.index, data, index: snapshot.metadata.index) {
                record(error)
            }
        }
        for entry in ready.committedEntries {
            apply(server, entry, configuration: server.node.configuration(through: entry.index, of: ready))
        }
        for state in ready.readStates {
            guard let floor = pendingReads.removeValue(forKey: state.requestID) else { continue }
            if state.index < floor {
                record(
                    "server \(server.index): read \(state.requestID) confirmed at index \(state.index), below index \(floor) that was applied before the read was asked (stale read)")
            }
            readsConfirmed += 1
            if !server.node.isLeader { forwardedReadsConfirmed += 1 }
        }
        for id in ready.droppedReads where pendingReads.removeValue(forKey: id) != nil {
            readsDropped += 1
        }
        server.node.advance(ready)
    }

    // MARK: The network

    private func send(_ message: Message, from server: SimServer) {
        let to = Int(message.to) - 1
        bytes += message.wireSize
        totalRPCs += 1
        switch message.body {
        case .appendEntries(let m): sentByKind[m.entries.isEmpty ? "appendEntries(empty)" : "appendEntries", default: 0] += 1
        case .installSnapshot: sentByKind["installSnapshot", default: 0] += 1
        case .requestVote(let m): sentByKind[m.preVote ? "preVote" : "requestVote", default: 0] += 1
        default: sentByKind["other", default: 0] += 1
        }
        guard connected[server.index] && connected[to], let target = servers[to] else { return }
        var delay: Int64 = 0
        if !reliable {
            delay = Int64(rand(27))
            if rand(1000) < 100 { return }
        }
        let fromGeneration = server.generation
        sched.schedule(after: delay) { [unowned self] in
            self.deliverRequest(message, to: target, fromGeneration: fromGeneration)
        }
        if duplicateProbability > 0 && Double(rand(1_000_000)) < duplicateProbability * 1_000_000 {
            sched.schedule(after: Int64(rand(100))) { [unowned self] in
                self.deliverRequest(message, to: target, fromGeneration: fromGeneration)
            }
        }
    }

    private func deliverRequest(_ message: Message, to target: SimServer, fromGeneration: Int) {
        guard isCurrent(target) else { return }
        let from = Int(message.from) - 1
        rpcCounts[target.index] += 1
        if refuses(target, message) { return }
        do {
            try target.node.step(message)
        } catch {
            record("server \(target.index) rejected a message: \(error)")
            return
        }
        var replies: [Message] = []
        processReady(target, replyTo: message.from) { replies.append($0) }
        for reply in replies {
            // labrpc checks after the handler whether the link was cut or the server replaced.
            guard isCurrent(target), connected[from] && connected[target.index] else { continue }
            if !reliable && rand(1000) < 100 { continue }
            var delay: Int64 = 0
            if longReordering && rand(900) < 600 {
                delay = 200 + Int64(rand(1 + rand(2000)))
            }
            sched.schedule(after: delay) { [unowned self] in
                self.bytes += reply.wireSize
                self.deliverReply(reply, toGeneration: fromGeneration)
            }
        }
    }

    private func deliverReply(_ reply: Message, toGeneration: Int) {
        let to = Int(reply.to) - 1
        guard let server = servers[to], server.generation == toGeneration, isCurrent(server) else { return }
        if refuses(server, reply) { return }
        do {
            try server.node.step(reply)
        } catch {
            record("server \(to) rejected a reply: \(error)")
            return
        }
        processReady(server)
    }

    /// RPCs dispatched to server `i` (labrpc `GetCount`).
    public func rpcCount(_ i: Int) -> Int { rpcCounts[i] }

    /// Every RPC sent (labrpc `GetTotalCount`).
    public var rpcTotal: Int { totalRPCs }

    /// Bytes of requests sent and replies delivered (labrpc `GetTotalBytes`).
    public var bytesTotal: Int { bytes }

    // MARK: Appliers

    /// 6.824 `checkLogs`: the command must equal what every other server applied at `index`.
    private func checkLogs(_ i: Int, _ index: UInt64, _ command: [UInt8]) -> (error: String?, prevOK: Bool) {
        var error: String?
        for j in 0..<n {
            if let old = logs[j][index], old != command {
                error = "commit index=\(index) server=\(i) \(Command.describe(command)) != server=\(j) \(Command.describe(old))"
            }
        }
        let prevOK = logs[i][index - 1] != nil
        logs[i][index] = command
        if index > maxIndex { maxIndex = index }
        return (error, prevOK)
    }

    /// 6.824 `applier` / `applierSnap`.
    private func apply(_ server: SimServer, _ entry: LogEntry, configuration: @autoclosure () -> Configuration) {
        // The Go tester only sees commands. No-ops (`noopOnElection`) and configuration changes
        // (never in the reference scenarios) are recorded with their data, so the order checks
        // hold and every server must have applied the same change at the same index.
        let i = server.index
        let index = entry.index
        var error: String?
        if snapshotMode && index != lastApplied[i] + 1 {
            error = "server \(i) apply out of order, expected index \(lastApplied[i] + 1), got \(index)"
        }
        if error == nil {
            let (checkError, prevOK) = checkLogs(i, index, entry.data)
            error = checkError
            if index > 1 && !prevOK {
                error = "server \(i) apply out of order \(index)"
            }
        }
        lastApplied[i] = index
        if let error { record("apply error: \(error)") }
        if checkInvariants && invariants.committed[index] == nil {
            invariants.committed[index] = (entry.data, server.node.term)
        }
        if snapshotMode && (index + 1) % snapshotEvery == 0 {
            // The service's Snapshot(index, bytes), called synchronously from the apply loop.
            let data = SnapshotCodec.encode(index: index, log: logs[i])
            do {
                try server.storage.createSnapshot(index, data: data, configuration: configuration())
                try server.storage.compact(index)
            } catch {
                record("server \(i) snapshot at \(index) failed: \(error)")
            }
        }
    }

    /// 6.824 `ingestSnap`. `index` nil: loaded at start, no index to compare with.
    private func ingestSnapshot(_ i: Int, _ data: [UInt8], index: UInt64?) -> String? {
        guard let (lastIncluded, log) = SnapshotCodec.decode(data) else {
            return "snapshot decode error"
        }
        if let index, index != lastIncluded {
            return "server \(i) snapshot doesn't match m.SnapshotIndex"
        }
        logs[i] = log
        lastApplied[i] = lastIncluded
        return nil
    }

    /// The persisted Raft state of server `i` in bytes (hard state and log, not the snapshot).
    public func raftStateSize(_ i: Int) -> Int {
        guard let storage = persisters[i] else { return 0 }
        return storage.hardState.wireSize + storage.logEntries.reduce(0) { $0 + 2 + $1.wireSize }
    }

    /// 6.824 `LogSize`: the largest persisted Raft state.
    public func logSize() -> Int {
        (0..<n).map(raftStateSize).max() ?? 0
    }
}
