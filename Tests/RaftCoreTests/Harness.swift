@testable import RaftCore
import RaftMessages

/// A node under test with its storage; `drain()` processes one `Ready` as a driver would.
final class TestNode {
    let storage: MemoryStorage
    let node: RawNode

    init(id: UInt64, voters: [UInt64], storage: MemoryStorage? = nil, configure: (inout Config) -> Void = { _ in }) {
        let storage = storage ?? MemoryStorage(voters: voters)
        var config = Config(
            id: id, voters: voters, electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false,
            noopOnElection: false, randomSeed: 42)
        configure(&config)
        self.storage = storage
        self.node = try! RawNode(config: config, storage: storage)
    }

    var raft: Raft { node.raft }
    /// Read states and dropped reads of the `Ready`s `drain()` processed.
    var readStates: [ReadState] = []
    var droppedReads: [UInt64] = []
    /// The most snapshot bytes one `Ready` handed over to write (what a driver holds at once).
    var largestSnapshotChunkBatch = 0

    /// Persists and returns the messages of every pending `Ready` (applying is a no-op).
    @discardableResult
    func drain() -> [Message] {
        var out: [Message] = []
        while node.hasReady {
            let ready = node.ready()
            largestSnapshotChunkBatch = max(largestSnapshotChunkBatch, ready.snapshotChunks.reduce(0) { $0 + $1.data.count })
            try! storage.stageSnapshotChunks(ready.snapshotChunks)
            if let snapshot = ready.snapshot { try! storage.applySnapshot(snapshot) }
            try! storage.append(ready.entries)
            if let hardState = ready.hardState { storage.setHardState(hardState) }
            out += ready.messages + ready.messagesAfterPersist
            readStates += ready.readStates
            droppedReads += ready.droppedReads
            node.advance(ready)
        }
        return out
    }

    /// Steps `message`; a message from a member this node removed is dropped (as the transport
    /// refuses it).
    func step(_ message: Message) {
        do {
            try node.step(message)
        } catch RaftError.unknownPeer(let id) where id == message.from && node.configuration.isRemoved(id) {
            return
        } catch {
            fatalError("step failed: \(error)")
        }
    }

    func tick(_ n: Int = 1) {
        for _ in 0..<n { node.tick() }
    }

    /// Ticks until the node starts an election (at most 2 * electionTick).
    func timeOut() {
        for _ in 0..<(2 * raft.config.electionTick) where raft.role == .follower {
            node.tick()
        }
    }
}

/// A set of `TestNode`s exchanging messages by hand: `deliver` runs rounds until quiet.
final class TestNetwork {
    var nodes: [UInt64: TestNode] = [:]
    /// Messages for which this returns true are dropped.
    var drop: (Message) -> Bool = { _ in false }
    /// Messages delivered so far, in order.
    var delivered: [Message] = []

    /// `bootstrap`: the first configuration is written into every member's log
    /// (`RawNode.bootstrap`, as the real node does) instead of coming from `Config.voters`, so
    /// that members added later learn it from the log.
    init(_ count: Int, bootstrap: Bool = false, configure: (inout Config) -> Void = { _ in }) {
        let voters = (1...UInt64(count)).map { $0 }
        for id in voters {
            if bootstrap {
                let node = TestNode(id: id, voters: [], configure: configure)
                try! node.node.bootstrap(voters.map { Member(id: $0, peerAddress: "10.0.0.\($0):7000") })
                node.drain()
                nodes[id] = node
            } else {
                nodes[id] = TestNode(id: id, voters: voters, configure: configure)
            }
        }
    }

    subscript(id: UInt64) -> TestNode { nodes[id]! }

    /// Delivers messages (and the messages they cause) until none is left. Returns the number of
    /// rounds (one round = every message currently in flight delivered once).
    @discardableResult
    func deliver(_ initial: [Message] = [], maxRounds: Int = 10_000) -> Int {
        var inFlight = initial
        for node in nodes.values.sorted(by: { $0.raft.id < $1.raft.id }) { inFlight += node.drain() }
        var rounds = 0
        while !inFlight.isEmpty && rounds < maxRounds {
            rounds += 1
            var next: [Message] = []
            for message in inFlight where !drop(message) {
                guard let target = nodes[message.to] else { continue }
                delivered.append(message)
                target.step(message)
                next += target.drain()
            }
            inFlight = next
        }
        return rounds
    }

    /// Elects `id` (by timing it out) and lets the cluster settle.
    func elect(_ id: UInt64) {
        nodes[id]!.node.campaign()
        deliver()
    }
}

func entries(_ terms: [UInt64], from first: UInt64 = 1) -> [LogEntry] {
    terms.enumerated().map { LogEntry(index: first + UInt64($0.offset), term: $0.element, data: [UInt8($0.offset & 0xFF)]) }
}

/// A storage pre-filled with entries of the given terms and a hard state at `term`.
func storage(terms: [UInt64], term: UInt64, voters: [UInt64], commit: UInt64 = 0) -> MemoryStorage {
    let s = MemoryStorage(voters: voters)
    try! s.append(entries(terms))
    s.setHardState(HardState(term: term, vote: 0, commit: commit))
    return s
}

extension Message {
    var appendEntries: AppendEntriesRequest? {
        if case .appendEntries(let m) = body { return m }
        return nil
    }

    var appendEntriesResponse: AppendEntriesResponse? {
        if case .appendEntriesResponse(let m) = body { return m }
        return nil
    }

    var requestVote: RequestVoteRequest? {
        if case .requestVote(let m) = body { return m }
        return nil
    }

    var requestVoteResponse: RequestVoteResponse? {
        if case .requestVoteResponse(let m) = body { return m }
        return nil
    }

    var installSnapshot: InstallSnapshotRequest? {
        if case .installSnapshot(let m) = body { return m }
        return nil
    }

    var readIndex: ReadIndexRequest? {
        if case .readIndex(let m) = body { return m }
        return nil
    }

    var readIndexResponse: ReadIndexResponse? {
        if case .readIndexResponse(let m) = body { return m }
        return nil
    }

    var installSnapshotResponse: InstallSnapshotResponse? {
        if case .installSnapshotResponse(let m) = body { return m }
        return nil
    }
}
