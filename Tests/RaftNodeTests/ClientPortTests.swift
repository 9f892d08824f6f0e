import NIOCore
import NIOPosix
import RaftChaos
import RaftClient
import RaftKV
import RaftMessages
import RaftNode
import RaftServer
import Testing

/// The client port over real loopback TCP in front of an in-process cluster.
@Suite(.serialized) struct ClientPortTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A cluster with one client server per member; returns the endpoints by member id.
    private func serve(_ cluster: LocalCluster) async throws -> ([UInt64: String], [UInt64: ClientService], [ClientServer]) {
        // Bind first (port 0), then tell every service the others' addresses.
        var servers: [ClientServer] = []
        var services: [UInt64: ClientService] = [:]
        var endpoints: [UInt64: String] = [:]
        var ports: [UInt64: Int] = [:]
        // Below the kernel's ephemeral range: a port from bind(0), released, could meanwhile become
        // the local port of an outgoing connection.
        for (id, port) in zip(cluster.ids, try LoopbackPorts.free(cluster.ids.count)) { ports[id] = port }
        for (id, port) in ports { endpoints[id] = "127.0.0.1:\(port)" }
        for id in cluster.ids {
            let service = ClientService(node: cluster.nodes[id]!, clientAddresses: endpoints, requestTimeout: .seconds(2))
            services[id] = service
            servers.append(
                try await ClientServer.start(
                    host: "127.0.0.1", port: ports[id]!, service: service, group: cluster.group, logger: .init(label: "client")))
        }
        return (endpoints, services, servers)
    }

    /// A member that accepts connections but never answers (paused with SIGSTOP, or cut off)
    /// holds a client's attempt for `attemptTimeout` only: the write moves on to the next
    /// member and applies once. And no call outlasts its own timeout, whatever its attempts do.
    @Test(.timeLimit(.minutes(1))) func aClientMovesOnFromAMemberThatNeverAnswers() async throws {
        let cluster = try await LocalCluster(size: 3)
        let leader = try await cluster.leader()
        let (endpoints, _, servers) = try await serve(cluster)
        // Accepts, reads, never writes.
        let silent = try await ServerBootstrap(group: cluster.group).bind(host: "127.0.0.1", port: 0).get()
        let silentEndpoint = "127.0.0.1:\(silent.localAddress!.port!)"

        let client = KVClient(
            endpoints: [silentEndpoint, endpoints[leader]!], group: cluster.group, timeout: .seconds(5),
            attemptTimeout: .milliseconds(200))
        #expect(try await client.put(k("moved"), k("on")).status == .ok)
        #expect(try await client.get(k("moved")).value == k("on"))
        await client.close()

        let stuck = KVClient(endpoints: [silentEndpoint], group: cluster.group, timeout: .milliseconds(300))
        await #expect(throws: KVClientError.self) { _ = try await stuck.put(k("never"), k("answered")) }
        // The single-member calls (raftctl status, diagnostics) are bounded the same way.
        await #expect(throws: KVClientError.timedOut(afterSeconds: 0.3)) { _ = try await stuck.status(of: silentEndpoint) }
        await #expect(throws: KVClientError.timedOut(afterSeconds: 0.3)) {
            _ = try await stuck.localGet(k("never"), from: silentEndpoint)
        }
        await stuck.close()
        try await silent.close()
        for server in servers { try await server.close() }
        await cluster.shutdown()
    }

    @Test func aPutThroughAFollowerIsRedirectedAndReadableFromEveryMember() async throws {
        let cluster = try await LocalCluster(size: 3)
        let leader = try await cluster.leader()
        let (endpoints, _, servers) = try await serve(cluster)
        let follower = cluster.ids.first { $0 != leader }!
        try await cluster.waitUntil("the follower knows the leader") {
            try await cluster.nodes[follower]!.status().get().leaderID == leader
        }
        let client = KVClient(endpoints: [endpoints[follower]!], group: cluster.group)
        let put = try await client.put(k("color"), k("blue"))
        #expect(put.status == .ok)
        #expect(try await client.get(k("color")).value == k("blue"))
        #expect(try await client.get(k("missing")).status == .notFound)
        #expect(try await client.compareAndSwap(k("color"), expected: k("red"), value: k("green")).status == .casFailed)
        #expect(try await client.compareAndSwap(k("color"), expected: k("blue"), value: k("green")).status == .ok)
        #expect(try await client.delete(k("color")).status == .ok)
        #expect(try await client.get(k("color")).status == .notFound)
        try await cluster.waitUntil("every member applied the writes") {
            try await cluster.statuses().allSatisfy { $0.appliedIndex >= put.index + 3 }  // cas, cas, delete (gets use no entry)
        }
        for id in cluster.ids {
            let status = try await client.status(of: endpoints[id]!)
            #expect(status.id == id)
            #expect(status.leaderID == leader)
            #expect(status.role == (id == leader ? "leader" : "follower"))
        }
        await client.close()
        for server in servers { try await server.close() }
        await cluster.shutdown()
    }

    @Test func badInputOnTheClientPortClosesThatConnectionOnly() async throws {
        let cluster = try await LocalCluster(size: 3)
        let leader = try await cluster.leader()
        let (endpoints, services, servers) = try await serve(cluster)
        let endpoint = endpoints[leader]!
        let port = Int(endpoint.split(separator: ":").last!)!

        // Raw sockets sending garbage, a zero-length frame, and an oversized length.
        for bytes: [UInt8] in [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 3, 0x0A, 0x05, 0x61]] {
            let channel = try await ClientBootstrap(group: cluster.group).connect(host: "127.0.0.1", port: port).get()
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
            try await cluster.waitUntil("the server closes the connection") { !channel.isActive }
        }
        #expect(services[leader]!.stats.malformedFrames == 3)

        // The node keeps serving other connections.
        let client = KVClient(endpoints: [endpoint], group: cluster.group)
        #expect(try await client.put(k("still"), k("serving")).status == .ok)

        // A request without an operation (say, one a newer client added) and a write without a
        // client id are answered with ERROR and a reason; the connection stays usable.
        let unknown = try await client.sendOnce(ClientRequest(requestID: 0, operation: nil), to: endpoint)
        #expect(unknown.status == .error && unknown.error.contains("no operation"))
        let anonymous = try await client.sendOnce(
            ClientRequest(requestID: 0, clientID: 0, sequence: 1, operation: .put(key: k("a"), value: k("b"))), to: endpoint)
        #expect(anonymous.status == .error && anonymous.error.contains("client_id"))
        #expect(try await client.get(k("still")).value == k("serving"))
        #expect(services[leader]!.stats.answered[.error] == 2)
        await client.close()

        for server in servers { try await server.close() }
        await cluster.shutdown()
    }
}
