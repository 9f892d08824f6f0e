import Foundation
import NIOCore
import NIOPosix
import RaftChaos
import RaftClient
import RaftMessages
import RaftTLS

#if canImport(Glibc)
    import Glibc
#endif

struct ClusterFailure: Error, CustomStringConvertible {
    var description: String
}

/// Real `raft-node` processes on loopback, each with its own data directory, log file and
/// pid; optionally every peer link through a `LinkProxy` so that tests can partition the
/// network. Members `1...size` bootstrap the cluster; `addMember()` starts more with `--join`.
/// Every wait is bounded; `shutdown()` kills whatever is left.
final class ProcessCluster: @unchecked Sendable {
    // @unchecked: used from one test task at a time; Process is not Sendable.
    let size: Int
    let root: URL
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// Ports of every member ever started, by id.
    private(set) var ports: [Int: (peer: Int, client: Int, metrics: Int)] = [:]
    /// The members this cluster runs or has run and not removed: `1...size`, then added ones.
    private(set) var members: [Int]
    let snapshotEntries: Int
    private(set) var processes: [Int: Process] = [:]
    /// Processes that exited by themselves (a removed or refused member), by id.
    private(set) var exited: [Int: Process] = [:]
    /// proxies[from][to]: the link from member `from` to member `to` (1-based ids).
    private(set) var proxies: [Int: [Int: LinkProxy]] = [:]

    static var binaries: URL {
        // The test bundle sits next to the products of the same build.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// Extra environment of every member (failpoints).
    let environment: [String: String]
    /// With TLS: the certificates every member and client uses (TLS on every port, client
    /// certificates required); nil for plaintext.
    let certificates: ClusterCertificates?
    /// What clients of this cluster speak: TLS with the client certificate, or plaintext.
    let clientTLS: TLSEndpoint?

    init(
        size: Int = 3, snapshotEntries: Int = 10_000, proxied: Bool = false, environment: [String: String] = [:],
        tls: Bool = false
    ) async throws {
        self.size = size
        self.snapshotEntries = snapshotEntries
        self.environment = environment
        root = FileManager.default.temporaryDirectory.appendingPathComponent("raft-process-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        (certificates, clientTLS) = try ClusterCertificates.forCluster(tls: tls, size: size, root: root)
        let free = try Self.freePorts(3 * size)
        for id in 1...size { ports[id] = (free[id - 1], free[size + id - 1], free[2 * size + id - 1]) }
        members = Array(1...size)
        if proxied {
            for from in 1...size {
                for to in 1...size where to != from {
                    proxies[from, default: [:]][to] = try await LinkProxy.start(to: peerPorts[to - 1], group: group)
                }
            }
        }
        for id in 1...size { try start(id) }
    }

    /// A test that throws before `shutdown()` must not leave members running: whatever is left
    /// when the cluster is released is killed.
    deinit {
        for process in processes.values where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
    }

    /// The initial members' ports, in id order.
    var peerPorts: [Int] { (1...size).map { ports[$0]!.peer } }
    var clientPorts: [Int] { (1...size).map { ports[$0]!.client } }
    var metricsPorts: [Int] { (1...size).map { ports[$0]!.metrics } }

    /// The client endpoints of the current members.
    var endpoints: [String] { members.map(endpoint) }
    func endpoint(_ id: Int) -> String { "127.0.0.1:\(ports[id]!.client)" }
    func logFile(_ id: Int) -> URL { root.appendingPathComponent("node\(id).log") }

    /// Free loopback ports for members (`LoopbackPorts`: never the same one twice in this
    /// process, so parallel tests' clusters never share one).
    static func freePorts(_ count: Int) throws -> [Int] { try LoopbackPorts.free(count) }

    /// The --cluster value member `id` gets: its own real address, the others through proxies;
    /// a member added later names only itself (it joins).
    private func clusterFlag(for id: Int) -> [String] {
        guard id <= size else { return ["--join", "--cluster", "\(id)=127.0.0.1:\(ports[id]!.peer)"] }
        let value = (1...size).map { member in
            let port = member == id ? ports[member]!.peer : (proxies[id]?[member]?.port ?? ports[member]!.peer)
            return "\(member)=127.0.0.1:\(port)"
        }.joined(separator: ",")
        return ["--cluster", value, "--client-addresses", (1...size).map { "\($0)=\(endpoint($0))" }.joined(separator: ",")]
    }

    func dataDirectory(_ id: Int) -> URL { root.appendingPathComponent("data\(id)") }

    func start(_ id: Int) throws {
        let arguments =
            ["--id", "\(id)"] + clusterFlag(for: id) + [
                "--cluster-id", "process-test",
                "--client-listen", endpoint(id), "--metrics-listen", "127.0.0.1:\(ports[id]!.metrics)",
                "--data-dir", dataDirectory(id).path,
                "--election-timeout-ms", "300", "--heartbeat-ms", "50",
                "--snapshot-entries", "\(snapshotEntries)", "--log-level", "info",
            ] + (try certificates?.nodeFlags(member: id) ?? [])
        let process = try MemberProcess.launch(
            Self.binaries.appendingPathComponent("raft-node"), arguments: arguments, log: logFile(id),
            environment: environment)
        processes[id] = process
    }

    /// Starts a new member (the next unused id) with `--join`, on fresh ports; it waits for the
    /// leader until the configuration includes it. Returns its id.
    func startNewMember() throws -> Int {
        let id = (ports.keys.max() ?? 0) + 1
        let free = try Self.freePorts(3)
        ports[id] = (free[0], free[1], free[2])
        members.append(id)
        try start(id)
        return id
    }

    /// The member record to add `id` with.
    func record(_ id: Int, learner: Bool = true) -> Member {
        Member(
            id: UInt64(id), peerAddress: "127.0.0.1:\(ports[id]!.peer)", clientAddress: endpoint(id), learner: learner)
    }

    /// Forgets `id` as a member (it was removed): its process is expected to exit by itself.
    func forget(_ id: Int) {
        members.removeAll { $0 == id }
    }

    /// Waits (bounded) for member `id` to exit by itself; returns its exit status.
    func waitForExit(_ id: Int, seconds: Double = 15) async throws -> Int32 {
        guard let process = processes[id] ?? exited[id] else { throw ClusterFailure(description: "member \(id) was never started") }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(25)) }
        guard !process.isRunning else {
            throw ClusterFailure(description: "member \(id) still runs after \(seconds) s\n\(tails())")
        }
        processes[id] = nil
        exited[id] = process
        return process.terminationStatus
    }

    /// Deletes member `id`'s data directory (it must not be running): a lost disk.
    func wipe(_ id: Int) throws {
        try FileManager.default.removeItem(at: dataDirectory(id))
    }

    func kill9(_ id: Int) {
        guard let process = processes.removeValue(forKey: id) else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait (bounded); returns the exit status.
    @discardableResult
    func terminate(_ id: Int, seconds: Double = 10) async throws -> Int32 {
        guard let process = processes.removeValue(forKey: id) else { return -1 }
        process.terminate()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            throw ClusterFailure(description: "member \(id) ignored SIGTERM for \(seconds) s")
        }
        return process.terminationStatus
    }

    func client(_ endpoints: [String]? = nil, clientID: UInt64 = UInt64.random(in: 1...UInt64.max), timeout: Double = 10)
        -> KVClient
    {
        KVClient(
            endpoints: endpoints ?? self.endpoints, group: group, clientID: clientID,
            timeout: .milliseconds(Int64(timeout * 1000)), tls: clientTLS)
    }

    /// Statuses of the members that answer (others left out).
    func statuses(of ids: [Int]? = nil) async -> [Int: NodeStatus] {
        let client = self.client()
        defer { Task { await client.close() } }
        var result: [Int: NodeStatus] = [:]
        for id in ids ?? Array(processes.keys) {
            if let status = try? await client.status(of: endpoint(id)) { result[id] = status }
        }
        return result
    }

    func waitUntil(_ what: String, seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ClusterFailure(description: "timed out after \(seconds) s waiting until \(what)\n\(tails())")
    }

    /// The single leader among `ids` (all running members by default), once they agree on it.
    func leader(among ids: [Int]? = nil, seconds: Double = 10) async throws -> Int {
        var found = 0
        try await waitUntil("one leader among \(ids ?? Array(processes.keys).sorted())", seconds: seconds) {
            let statuses = await statuses(of: ids)
            let leaders = statuses.filter { $0.value.role == "leader" }
            guard leaders.count == 1, let (id, status) = leaders.first else { return false }
            guard statuses.values.allSatisfy({ $0.leaderID == status.id }) else { return false }
            found = id
            return true
        }
        return found
    }

    /// The last lines of every member's log, for failure messages.
    func tails(lines: Int = 8) -> String {
        ports.keys.sorted().map { id in
            let text = (try? String(contentsOf: logFile(id), encoding: .utf8)) ?? ""
            return "--- node \(id)\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    func log(_ id: Int) -> String { (try? String(contentsOf: logFile(id), encoding: .utf8)) ?? "" }

    /// Cuts both directions between member `a` and member `b`.
    func partition(_ a: Int, from others: [Int]) {
        for b in others {
            proxies[a]?[b]?.sever()
            proxies[b]?[a]?.sever()
        }
    }

    func healAll() {
        for links in proxies.values { for proxy in links.values { proxy.heal() } }
    }

    func shutdown() async {
        for id in Array(processes.keys) { kill9(id) }
        for links in proxies.values { for proxy in links.values { await proxy.close() } }
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(at: root)
    }
}
