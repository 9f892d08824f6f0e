import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftChaos
import RaftClient
import RaftMessages
import RaftTLS

#if canImport(Glibc)
    import Glibc
#endif

/// Real `raft-node` processes on loopback for the fault suite. Every peer link between two
/// first members goes through its own `LinkProxy` (member A's `--cluster` names B at the proxy
/// A→B), so that a partition cuts real TCP connections; members are killed with SIGKILL and
/// paused with SIGSTOP. Each member logs to `<root>/node<id>.log`.
final class ChaosCluster: @unchecked Sendable {
    let root: URL
    let binary: URL
    let size: Int
    let snapshotEntries: Int
    /// `RAFT_FAILPOINTS` of every member ("" for none).
    let failpoints: String
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private(set) var ports: [Int: (peer: Int, client: Int, metrics: Int)] = [:]
    /// proxies[from][to]: the link from → to.
    private(set) var proxies: [Int: [Int: LinkProxy]] = [:]
    private var processes: [Int: Process] = [:]
    /// The current members (the first `size`, then whoever replaced whom).
    private(set) var members: [Int] {
        didSet { published.withLockedValue { $0 = members.map(endpoint) } }
    }
    /// The current members' client endpoints, for the clients' tasks.
    private let published = NIOLockedValueBox<[String]>([])
    var currentEndpoints: [String] { published.withLockedValue { $0 } }
    private(set) var paused: Set<Int> = []

    /// With TLS: every member's and client's certificates (made at start); nil for plaintext.
    let certificates: ClusterCertificates?
    private let clientTLS: TLSEndpoint?

    init(
        root: URL, binary: URL, size: Int, snapshotEntries: Int, failpoints: String = "", tls: Bool = false
    ) async throws {
        self.failpoints = failpoints
        (certificates, clientTLS) = try ClusterCertificates.forCluster(tls: tls, size: size, root: root)
        self.root = root
        self.binary = binary
        self.size = size
        self.snapshotEntries = snapshotEntries
        members = Array(1...size)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let free = try LoopbackPorts.free(3 * size)
        for id in 1...size { ports[id] = (free[id - 1], free[size + id - 1], free[2 * size + id - 1]) }
        published.withLockedValue { $0 = (1...size).map { "127.0.0.1:\(ports[$0]!.client)" } }
        for from in 1...size {
            for to in 1...size where to != from {
                proxies[from, default: [:]][to] = try await LinkProxy.start(to: ports[to]!.peer, group: group)
            }
        }
        for id in 1...size { try start(id) }
    }

    func endpoint(_ id: Int) -> String { "127.0.0.1:\(ports[id]!.client)" }
    var endpoints: [String] { members.map(endpoint) }
    func logFile(_ id: Int) -> URL { root.appendingPathComponent("node\(id).log") }
    func isRunning(_ id: Int) -> Bool { processes[id]?.isRunning ?? false }

    /// Starts member `id` (again, on its data directory). A member beyond the first `size` joins.
    func start(_ id: Int) throws {
        let cluster: [String]
        if id <= size {
            let peers = (1...size).map { member in
                let port = member == id ? ports[member]!.peer : proxies[id]![member]!.port
                return "\(member)=127.0.0.1:\(port)"
            }.joined(separator: ",")
            cluster = ["--cluster", peers, "--client-addresses", (1...size).map { "\($0)=\(endpoint($0))" }.joined(separator: ",")]
        } else {
            cluster = ["--join", "--cluster", "\(id)=127.0.0.1:\(ports[id]!.peer)"]
        }
        let arguments =
            ["--id", "\(id)"] + cluster + [
                "--cluster-id", "chaos", "--client-listen", endpoint(id),
                "--metrics-listen", "127.0.0.1:\(ports[id]!.metrics)",
                "--data-dir", root.appendingPathComponent("data\(id)").path,
                "--election-timeout-ms", "300", "--heartbeat-ms", "50",
                "--snapshot-entries", "\(snapshotEntries)", "--log-level", "info",
            ] + (try certificates?.nodeFlags(member: id) ?? [])
        let process = try MemberProcess.launch(
            binary, arguments: arguments, log: logFile(id),
            environment: failpoints.isEmpty ? [:] : ["RAFT_FAILPOINTS": failpoints])
        processes[id] = process
        paused.remove(id)
    }

    /// kill -9: the member loses whatever it had not made durable.
    func kill9(_ id: Int) {
        guard let process = processes.removeValue(forKey: id) else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        paused.remove(id)
    }

    func pause(_ id: Int) {
        guard let process = processes[id], process.isRunning else { return }
        kill(process.processIdentifier, SIGSTOP)
        paused.insert(id)
    }

    func resume(_ id: Int) {
        guard let process = processes[id] else { return }
        kill(process.processIdentifier, SIGCONT)
        paused.remove(id)
    }

    /// Cuts every link between a member of `side` and one outside it (both directions).
    func partition(_ side: Set<Int>) {
        for (from, links) in proxies {
            for (to, proxy) in links where side.contains(from) != side.contains(to) { proxy.sever() }
        }
    }

    /// Cuts the link from → to only: `from` can no longer send to `to`, while `to` still reaches
    /// `from` (and `from` answers it on that connection).
    func cutOneWay(from: Int, to: Int) { proxies[from]?[to]?.sever() }

    func healNetwork() {
        for links in proxies.values { for proxy in links.values { proxy.heal() } }
    }

    /// A new member with the next id, started with --join on fresh ports; the caller adds it.
    func startNewMember() throws -> Int {
        let id = (ports.keys.max() ?? 0) + 1
        let free = try LoopbackPorts.free(3)
        ports[id] = (free[0], free[1], free[2])
        try start(id)
        return id
    }

    func record(_ id: Int) -> Member {
        Member(id: UInt64(id), peerAddress: "127.0.0.1:\(ports[id]!.peer)", clientAddress: endpoint(id), learner: true)
    }

    /// `old` left the configuration, `new` took its place.
    func replaced(_ old: Int, by new: Int) {
        members = members.map { $0 == old ? new : $0 }
    }

    /// A client of the current members; `attempt` bounds each try (see `KVClient.attemptTimeout`).
    func client(timeout: Double, attempt: Double? = nil, clientID: UInt64 = UInt64.random(in: 1...UInt64.max)) -> KVClient {
        KVClient(
            endpoints: currentEndpoints, group: group, clientID: clientID, timeout: .milliseconds(Int64(timeout * 1000)),
            attemptTimeout: attempt.map { .milliseconds(Int64($0 * 1000)) }, tls: clientTLS)
    }

    /// What the members that answer say about themselves.
    func statuses() async -> [Int: NodeStatus] {
        let client = client(timeout: 1)
        defer { Task { await client.close() } }
        var result: [Int: NodeStatus] = [:]
        for id in members where isRunning(id) && !paused.contains(id) {
            if let status = try? await client.status(of: endpoint(id)) { result[id] = status }
        }
        return result
    }

    /// Waits (bounded) for one leader that every answering member follows.
    func leader(seconds: Double = 20) async throws -> Int {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let statuses = await statuses()
            let leaders = statuses.filter { $0.value.role == "leader" }
            if leaders.count == 1, let (id, status) = leaders.first,
                statuses.values.allSatisfy({ $0.leaderID == status.id })
            {
                return id
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ChaosFailure("no single leader within \(seconds) s\n\(tails())")
    }

    /// Stops everything and (unless `keep`) deletes the data.
    func shutdown(keep: Bool) async {
        for id in Array(processes.keys) {
            resume(id)
            kill9(id)
        }
        for links in proxies.values { for proxy in links.values { await proxy.close() } }
        try? await group.shutdownGracefully()
        if !keep {
            for id in ports.keys { try? FileManager.default.removeItem(at: root.appendingPathComponent("data\(id)")) }
        }
    }

    deinit {
        for process in processes.values where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func tails(lines: Int = 6) -> String {
        ports.keys.sorted().map { id in
            let text = (try? String(contentsOf: logFile(id), encoding: .utf8)) ?? ""
            return "--- node \(id)\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

struct ChaosFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
