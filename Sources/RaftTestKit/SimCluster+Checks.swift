import RaftCore

/// A `one()` running in the background (a goroutine of the Go tester), as a chain of events.
public final class OneOperation {
    let command: [UInt8]
    let expected: Int
    let retry: Bool
    var t0: Int64 = 0
    var t1: Int64 = 0
    var starts = 0
    public internal(set) var finished = false
    /// The index the command committed at, once `finished` (-1 if it gave up).
    public internal(set) var index = -1

    init(command: [UInt8], expected: Int, retry: Bool) {
        self.command = command
        self.expected = expected
        self.retry = retry
    }
}

/// One of the churn tests' clients: Start(x) on every live server and record x once committed.
public final class ChurnClient {
    let me: Int
    public internal(set) var values: [Int] = []
    public internal(set) var done = false
    var stop = false

    init(me: Int) {
        self.me = me
    }
}

extension SimCluster {
    /// 6.824 `checkOneLeader`: up to 10 rounds of sleeping 450–549 ms, then the connected servers
    /// that claim leadership, by term; two in one term fail. Returns the leader of the highest term.
    public func checkOneLeader() throws -> Int {
        for _ in 0..<10 {
            try sleep(450 + Int64(rand(100)))
            var leaders: [Int: [Int]] = [:]
            for i in 0..<n where connected[i] {
                let (term, isLeader) = getState(i)
                if isLeader { leaders[term, default: []].append(i) }
            }
            var lastTermWithLeader = -1
            for (term, ids) in leaders {
                if ids.count > 1 { throw failed("term \(term) has \(ids.count) (>1) leaders") }
                if term > lastTermWithLeader { lastTermWithLeader = term }
            }
            if !leaders.isEmpty { return leaders[lastTermWithLeader]![0] }
        }
        throw failed("expected one leader, got none")
    }

    /// 6.824 `checkTerms`: connected servers agree on the term.
    public func checkTerms() throws -> Int {
        var term = -1
        for i in 0..<n where connected[i] {
            let (xterm, _) = getState(i)
            if term == -1 {
                term = xterm
            } else if term != xterm {
                throw failed("servers disagree on term")
            }
        }
        return term
    }

    /// 6.824 `checkNoLeader`: no connected server thinks it leads.
    public func checkNoLeader() throws {
        for i in 0..<n where connected[i] && getState(i).isLeader {
            throw failed("expected no leader among connected servers, but \(i) claims to be leader")
        }
    }

    /// 6.824 `nCommitted`: how many servers applied `index` (crashed and disconnected included),
    /// and the command; two different commands at one index fail the test.
    public func nCommitted(_ index: Int) -> (count: Int, command: [UInt8]?) {
        var count = 0
        var command: [UInt8]?
        for i in 0..<n {
            if let command1 = logs[i][UInt64(index)] {
                if count > 0 && command != command1 {
                    record(
                        "committed values do not match: index \(index), \(Command.describe(command)), \(Command.describe(command1))")
                }
                count += 1
                command = command1
            }
        }
        return (count, command)
    }

    /// 6.824 `wait`: up to 30 polls sleeping 10, 20, ... 640 ms then 1280 ms... (doubling while
    /// below a second); returns nil (Go's -1) if some server's term passed `startTerm`; fails if
    /// fewer than `n` servers applied `index`.
    public func wait(_ index: Int, _ count: Int, _ startTerm: Int) throws -> [UInt8]? {
        var to: Int64 = 10
        for _ in 0..<30 {
            let (nd, _) = nCommitted(index)
            try checkFailure()
            if nd >= count { break }
            try sleep(to)
            if to < 1000 { to *= 2 }
            if startTerm > -1 {
                for i in 0..<n where isAlive(i) {
                    if getState(i).term > startTerm { return nil }
                }
            }
        }
        let (nd, command) = nCommitted(index)
        try checkFailure()
        if nd < count { throw failed("only \(nd) decided for index \(index); wanted \(count)") }
        return command
    }

    /// 6.824 `one`: submit `command` to whichever connected server leads and wait until
    /// `expected` servers applied it at the returned index.
    @discardableResult
    public func one(_ command: [UInt8], _ expected: Int, retry: Bool) throws -> Int {
        let operation = startOne(command, expected, retry: retry)
        try run { operation.finished }
        if !operation.finished { throw failed("simulation stalled in one()") }
        return operation.index
    }

    @discardableResult
    public func one(_ command: Int, _ expected: Int, retry: Bool) throws -> Int {
        try one(Command.int(command), expected, retry: retry)
    }

    /// Starts a `one()` in the background (a goroutine in the Go tester).
    public func startOne(_ command: [UInt8], _ expected: Int, retry: Bool) -> OneOperation {
        let operation = OneOperation(command: command, expected: expected, retry: retry)
        operation.t0 = now
        oneAttempt(operation)
        return operation
    }

    /// Runs the simulation until every background operation finished.
    public func awaitAll(_ operations: [OneOperation]) throws {
        try run { operations.allSatisfy(\.finished) }
    }

    private func oneAttempt(_ operation: OneOperation) {
        if operation.finished { return }
        guard now - operation.t0 < 10_000 else {
            record("one(\(Command.describe(operation.command))) failed to reach agreement")
            operation.finished = true
            return
        }
        var index = -1
        for _ in 0..<n {
            operation.starts = (operation.starts + 1) % n
            guard connected[operation.starts] else { continue }
            let (index1, _, ok) = startCommand(operation.starts, operation.command)
            if ok {
                index = index1
                break
            }
        }
        if index != -1 {
            operation.t1 = now
            onePoll(operation, index)
        } else {
            sched.schedule(after: 50) { [unowned self] in self.oneAttempt(operation) }
        }
    }

    private func onePoll(_ operation: OneOperation, _ index: Int) {
        if now - operation.t1 < 2000 {
            let (nd, command) = nCommitted(index)
            if nd > 0 && nd >= operation.expected && command == operation.command {
                operation.index = index
                operation.finished = true
                return
            }
            sched.schedule(after: 20) { [unowned self] in self.onePoll(operation, index) }
            return
        }
        if !operation.retry {
            record("one(\(Command.describe(operation.command))) failed to reach agreement")
            operation.finished = true
            return
        }
        oneAttempt(operation)
    }

    // MARK: Churn clients

    public func startChurnClient(_ me: Int) -> ChurnClient {
        let client = ChurnClient(me: me)
        churnLoop(client)
        return client
    }

    /// Asks every client to stop and runs until they have.
    public func stopChurnClients(_ clients: [ChurnClient]) throws {
        for client in clients { client.stop = true }
        try run { clients.allSatisfy(\.done) }
    }

    private func churnLoop(_ client: ChurnClient) {
        if client.stop {
            client.done = true
            return
        }
        let x = randInt()
        var index = -1
        var ok = false
        for i in 0..<n where isAlive(i) {
            let (index1, _, ok1) = startCommand(i, Command.int(x))
            if ok1 {
                ok = true
                index = index1
            }
        }
        if ok {
            churnPoll(client, x, index, 0)
        } else {
            sched.schedule(after: Int64(79 + client.me * 17)) { [unowned self] in self.churnLoop(client) }
        }
    }

    private func churnPoll(_ client: ChurnClient, _ x: Int, _ index: Int, _ k: Int) {
        let timeouts: [Int64] = [10, 20, 50, 100, 200]
        guard k < timeouts.count else {
            churnLoop(client)
            return
        }
        let (nd, command) = nCommitted(index)
        if nd > 0 {
            if let command, let value = Command.intValue(command) {
                if value == x { client.values.append(x) }
            } else {
                record("wrong command type")
            }
            churnLoop(client)
            return
        }
        sched.schedule(after: timeouts[k]) { [unowned self] in self.churnPoll(client, x, index, k + 1) }
    }

    /// Runs a tester scenario on a fresh cluster; a failed check throws a `TesterFailure` that
    /// names the seed and the command replaying it.
    public static func run(
        _ name: String, servers: Int, unreliable: Bool = false, snapshot: Bool = false, seed: UInt64? = nil,
        _ body: (SimCluster) throws -> Void
    ) throws {
        // RAFT_REPEAT=n runs the scenario n times with consecutive seeds (stress runs).
        let repeats = TestSeed.environment("RAFT_REPEAT").flatMap { Int($0) } ?? 1
        let first = seed ?? TestSeed.make()
        for k in 0..<max(1, repeats) {
            let cluster = SimCluster(
                name: name, servers: servers, unreliable: unreliable, snapshot: snapshot, seed: first &+ UInt64(k))
            defer { cluster.cleanup() }
            try cluster.checkFailure()
            try body(cluster)
            try cluster.checkFailure()
            if TestSeed.environment("RAFT_VERBOSE") != nil {
                print(
                    "\(name): passed, \(cluster.now) simulated ms, \(cluster.sched.eventsRun) events, seed \(cluster.seed), "
                        + "sent \(cluster.sentByKind.sorted { $0.key < $1.key })")
            }
        }
    }
}
