import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftKV
import RaftMessages
import RaftNode

/// An in-process network: delivers each message to its receiver's node, unless either end is
/// cut off. Real event loops and real time, no sockets.
final class LocalNetwork: Sendable {
    private let nodes = NIOLockedValueBox<[UInt64: @Sendable (Message) -> Void]>([:])
    private let cut = NIOLockedValueBox<Set<UInt64>>([])

    func register<Machine: StateMachine>(_ node: RaftNode<Machine>) {
        nodes.withLockedValue { $0[node.id] = { node.receive($0) } }
    }
    func unregister(_ id: UInt64) { _ = nodes.withLockedValue { $0.removeValue(forKey: id) } }
    func isolate(_ id: UInt64) { _ = cut.withLockedValue { $0.insert(id) } }
    func heal(_ id: UInt64) { _ = cut.withLockedValue { $0.remove(id) } }

    func sender() -> some MessageSender { Sender(network: self) }

    fileprivate func deliver(_ message: Message) {
        let blocked = cut.withLockedValue { $0.contains(message.from) || $0.contains(message.to) }
        guard !blocked, let receive = nodes.withLockedValue({ $0[message.to] }) else { return }
        receive(message)
    }

    private struct Sender: MessageSender {
        let network: LocalNetwork
        func send(_ message: Message) { network.deliver(message) }
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls until `condition` holds, every 10 ms, for at most `seconds`.
func pollUntil(_ what: String, seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimedOut(description: "timed out after \(seconds) s waiting until \(what)")
}

/// Runs `propose` (which finds the member that leads now and proposes there) again when
/// leadership moved under it, at most 50 times: on a loaded machine a heartbeat can come later
/// than the 200 ms election timeout. A proposal refused or replaced by the move did not apply.
func proposingAgainWhileLeadershipMoves<T>(_ propose: () async throws -> T) async throws -> T {
    var attempts = 0
    while true {
        attempts += 1
        do {
            return try await propose()
        } catch let error as RaftNodeError where attempts < 50 {
            switch error {
            case .notLeader, .leadershipChanged, .transferInProgress: try await Task.sleep(for: .milliseconds(20))
            default: throw error
            }
        }
    }
}

/// A cluster of `RaftNode<KVStore>` on the local network, each with its own event loop and
/// storage. Every wait is bounded.
final class LocalCluster {
    let ids: [UInt64]
    let network = LocalNetwork()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
    let pool = NIOThreadPool(numberOfThreads: 2)
    var nodes: [UInt64: RaftNode<KVStore>] = [:]
    var storages: [UInt64: any DurableStorage] = [:]
    let configure: (inout RaftNodeConfiguration) -> Void
    private var nextClientSequence: UInt64 = 0

    init(size: Int, configure: @escaping (inout RaftNodeConfiguration) -> Void = { _ in }) async throws {
        ids = (1...UInt64(size)).map { $0 }
        self.configure = configure
        pool.start()
        for id in ids { try await start(id, storage: MemoryStorage(voters: ids)) }
    }

    func configuration(for id: UInt64) -> RaftNodeConfiguration {
        var configuration = RaftNodeConfiguration(
            id: id, members: ids, heartbeatInterval: .milliseconds(20), electionTimeout: .milliseconds(200))
        configuration.core.randomSeed = id
        configure(&configuration)
        return configuration
    }

    func start(_ id: UInt64, storage: any DurableStorage) async throws {
        var logger = Logger(label: "node-\(id)")
        logger.logLevel = .warning
        let node = try await RaftNode.start(
            configuration: configuration(for: id), storage: storage, machine: KVStore(), sender: network.sender(),
            eventLoop: group.any(), ioPool: pool, logger: logger)
        nodes[id] = node
        storages[id] = storage
        network.register(node)
    }

    func stop(_ id: UInt64) async {
        network.unregister(id)
        await nodes[id]?.stop()
        nodes[id] = nil
    }

    func shutdown() async {
        for id in nodes.keys { await stop(id) }
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    func statuses() async throws -> [RaftNodeStatus] {
        var result: [RaftNodeStatus] = []
        for node in nodes.values { result.append(try await node.status().get()) }
        return result
    }

    /// Polls until `condition` holds, every 10 ms, for at most `seconds`.
    func waitUntil(_ what: String, seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
        try await pollUntil(what, seconds: seconds, condition)
    }

    /// The one leader among reachable nodes, waiting up to 10 s for there to be exactly one.
    func leader(among candidates: Set<UInt64>? = nil) async throws -> UInt64 {
        var found: UInt64 = 0
        try await waitUntil("one leader is elected") {
            let leaders = try await statuses().filter { $0.role == .leader && (candidates?.contains($0.id) ?? true) }
            guard leaders.count == 1 else { return false }
            found = leaders[0].id
            return true
        }
        return found
    }

    /// Proposes a client request on the member that leads now among `candidates`, and again
    /// (same sequence: applied at most once) on the next leader if leadership moves under it.
    func submitToLeader(_ operation: KVOperation, among candidates: Set<UInt64>? = nil) async throws -> ClientResponse? {
        nextClientSequence += 1
        let sequence = nextClientSequence
        return try await proposingAgainWhileLeadershipMoves {
            try await submit(operation, on: try await leader(among: candidates), sequence: sequence)
        }
    }

    /// Proposes a client request on `id` and waits for its answer.
    func submit(_ operation: KVOperation, on id: UInt64, clientID: UInt64 = 1, sequence: UInt64? = nil) async throws -> ClientResponse? {
        nextClientSequence += 1
        let request = ClientRequest(requestID: 1, clientID: clientID, sequence: sequence ?? nextClientSequence, operation: operation)
        return try await nodes[id]!.propose(try KVStore.command(for: request)).get()
    }
}
