import Atomics
import Logging
import NIOCore
import NIOPosix
import RaftCore
import RaftKV
import RaftMessages
import RaftMetrics
import RaftNode
import RaftServer
import RaftStorage
import RaftTLS
import RaftTransport
import ServiceLifecycle
import UnixSignals

/// Wires one member together: data directory → core → peer transport → client port, and takes
/// it apart again in the right order on SIGTERM/SIGINT.
struct NodeService {
    let id: UInt64
    let clusterID: String
    let peers: ClusterMap
    let peerListen: (host: String, port: Int)
    let clientListen: (host: String, port: Int)
    let metricsListen: (host: String, port: Int)?
    let clientAddresses: [UInt64: String]
    let dataDir: String
    let configuration: RaftNodeConfiguration
    let logger: Logger
    let command: RaftNodeCommand

    init(command: RaftNodeCommand) throws {
        self.command = command
        id = command.id
        clusterID = command.clusterID
        peers = try command.parsedCluster()
        peerListen = try command.peerListen.map(ClusterMap.address) ?? peers.addresses[command.id]!
        clientListen = try ClusterMap.address(command.clientListen)
        metricsListen = command.metricsListen.isEmpty ? nil : try ClusterMap.address(command.metricsListen)
        var addresses: [UInt64: String] = [:]
        if let map = try command.parsedClientAddresses() {
            for member in map.ids { addresses[member] = map.string(member) }
        }
        dataDir = command.dataDir
        var configuration = RaftNodeConfiguration(
            id: command.id, members: [], heartbeatInterval: .milliseconds(Int64(command.heartbeatMs)),
            electionTimeout: .milliseconds(Int64(command.electionTimeoutMs)), snapshotEntries: command.snapshotEntries)
        // A new cluster's first configuration: the same records on every member (so only what
        // every member is given: --cluster and --client-addresses). Joining: none.
        let cluster = peers
        let shared = addresses
        configuration.initialMembers =
            command.join
            ? [] : cluster.ids.map { Member(id: $0, peerAddress: cluster.string($0)!, clientAddress: shared[$0] ?? "") }
        // Data directories written before the first configuration was in the log: their
        // membership is --cluster (see RaftNodeConfiguration.members).
        configuration.legacyMembers = peers.ids
        let advertised = Self.advertisedClientAddress(
            configured: addresses[command.id], listen: command.clientListen, peerHost: peers.addresses[command.id]!.host)
        configuration.clientAddress = advertised
        addresses[command.id] = advertised
        clientAddresses = addresses
        configuration.entriesKeptAfterSnapshot = min(1_000, command.snapshotEntries / 2)
        self.configuration = configuration
        logger = Logger(label: "raft-node")
    }

    /// The client address this member publishes: its --client-addresses entry, else
    /// --client-listen unless that is a wildcard (0.0.0.0, ::), else the host the others reach
    /// this member at (its --cluster entry) with the client port.
    static func advertisedClientAddress(configured: String?, listen: String, peerHost: String) -> String {
        if let configured { return configured }
        guard let (host, port) = try? ClusterMap.address(listen) else { return listen }
        let wildcard = host == "0.0.0.0" || host == "::" || host == "*"
        let advertisedHost = wildcard ? peerHost : host
        return advertisedHost.contains(":") ? "[\(advertisedHost)]:\(port)" : "\(advertisedHost):\(port)"
    }

    /// Runs until a signal or a storage failure; returns normally after a graceful stop.
    func runUntilSignalled() async throws {
        let metrics = RaftMetrics(id: id, clusterID: clusterID, peers: peers.ids)
        // TLS files are read before anything else: a wrong path or key fails the start at once.
        let tls = try NodeTLS(command: command, metrics: metrics, logger: logger)
        let storage = try DiskStorage(directory: dataDir)
        storage.syncObserver = { metrics.walSynced(after: $0) }
        let report = storage.recoveryReport
        logger.info(
            "recovered \(dataDir): \(report.entries) entries in \(report.segments) segments, snapshot at \(report.snapshot?.index ?? 0), hard state term \(storage.hardState.term)")
        for warning in report.warnings { logger.warning("recovery: \(warning)") }

        // One event loop for the node, its peer connections and its clients: the core is
        // single-threaded anyway, and every message crossing between loops costs a wake-up
        // (measured: 16,108 vs 9,167 writes/s at 64 clients with two loops, same run).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        var transportConfiguration = PeerTransportConfiguration(
            selfID: id, clusterID: clusterID, listenAddress: PeerAddress(host: peerListen.host, port: peerListen.port),
            peers: peers.addresses.filter { $0.key != id }.mapValues { PeerAddress(host: $0.host, port: $0.port) })
        transportConfiguration.requestTimeout = .milliseconds(Int64(configuration.electionTimeout.nanoseconds / 1_000_000))
        transportConfiguration.selfIncarnation = storage.incarnation
        transportConfiguration.tls = tls.peer
        // Peer messages go straight from the event loop that decoded them to the node's loop.
        let nodeRef = ManagedAtomicLazyReference<RaftNode<KVStore>>()
        let transport = PeerTransport(
            configuration: transportConfiguration, group: group, logger: logger, observer: metrics,
            onInbound: { message in nodeRef.load()?.receive(message) ?? false },
            onRefused: { _, refusal in nodeRef.load()?.refuse("the cluster refuses this member: \(refusal.reason)") })
        do {
            _ = try await transport.start()
        } catch {
            try? storage.close()
            throw StartupError("cannot listen for peers on \(transportConfiguration.listenAddress): \(error)")
        }
        let observer = MemberObserver(metrics: metrics, transport: transport, fallback: peers, selfID: id, logger: logger)
        let node = try await RaftNode.start(
            configuration: configuration, storage: storage, machine: KVStore(), sender: TransportSender(transport: transport),
            eventLoop: group.next(), ioPool: pool, logger: logger, observer: observer)
        _ = nodeRef.storeIfNilThenLoad(node)
        // The metrics page comes up before the client port: once clients can reach this member,
        // so can its monitoring.
        var metricsServer: MetricsServer?
        if let metricsListen {
            do {
                metricsServer = try await MetricsServer.start(
                    host: metricsListen.host, port: metricsListen.port, metrics: metrics, group: group,
                    tls: tls.metrics, health: { Self.health(of: node) })
            } catch {
                await node.stop()
                await transport.shutdown()
                try? storage.close()
                throw StartupError("cannot serve metrics on \(metricsListen.host):\(metricsListen.port): \(error)")
            }
        }
        let service = ClientService(
            node: node, clientAddresses: clientAddresses, onMalformedFrame: { metrics.malformedClientFrame() },
            answerDelay: Self.clientAnswerDelay())
        let server: ClientServer
        do {
            server = try await ClientServer.start(
                host: clientListen.host, port: clientListen.port, service: service, group: group, logger: logger,
                tls: tls.client)
        } catch {
            try? await metricsServer?.close()
            await node.stop()
            await transport.shutdown()
            try? storage.close()
            throw StartupError("cannot listen for clients on \(clientListen.host):\(clientListen.port): \(error)")
        }
        // Certificates are rotated by replacing the files: noticed within 10 s, or at once on SIGHUP.
        tls.watcher?.start(on: group.next())
        let reloads = Task { [watcher = tls.watcher, logger] in
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                if let watcher {
                    logger.notice("SIGHUP: reloading the TLS certificate files")
                    watcher.reload()
                } else {
                    logger.notice("SIGHUP: no TLS certificate files to reload")
                }
            }
        }
        let security = [
            tls.peer.map { _ in "peers" }, tls.client.map { $0.credentials.files.trustedCAFile == nil ? "clients" : "clients (certificates required)" },
            tls.metrics.map { _ in "metrics" },
        ].compactMap { $0 }
        logger.notice(
            "TLS on: \(security.isEmpty ? "none (plaintext)" : security.joined(separator: ", "))")
        logger.notice(
            "member \(id) of \(clusterID) serving: peers on \(transportConfiguration.listenAddress), clients on \(clientListen.host):\(clientListen.port) (published as \(configuration.clientAddress)), metrics on \(metricsListen.map { "\($0.host):\($0.port)" } ?? "none"), incarnation \(storage.incarnation)")
        if configuration.initialMembers.isEmpty && node.configuration.isEmpty {
            logger.notice("joining: waiting for the leader to send the log (add this member with raftctl member add \(id) ... if not done yet)")
        }

        let runner = NodeRunner(node: node, server: server, logger: logger)
        let group2 = ServiceGroup(
            configuration: .init(services: [runner], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        var failure: (any Error)?
        do {
            try await group2.run()
        } catch {
            failure = error
        }
        // Stopped: the client port is closed and the node has flushed; take down the rest
        // (the certificate watcher first: its timer runs on the group).
        reloads.cancel()
        tls.watcher?.stop()
        try? await server.close()
        try? await metricsServer?.close()
        await node.stop()
        await transport.shutdown()
        do {
            try storage.close()
        } catch {
            failure = failure ?? error
        }
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        if let failure { throw failure }
        logger.notice("member \(id) stopped")
    }
}

extension NodeService {
    /// The `client-answer` failpoint as the client port's answer delay; a plain `nil` when it is
    /// not configured, so that writes take no lock for it.
    static func clientAnswerDelay() -> @Sendable () -> TimeAmount? {
        guard Failpoint.clientAnswer.isConfigured else { return { nil } }
        return {
            guard let delay = Failpoint.clientAnswer.delay else { return nil }
            let (seconds, attoseconds) = delay.components
            return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }

    /// /healthz: healthy while the node runs and knows a leader.
    static func health(of node: RaftNode<KVStore>) -> EventLoopFuture<(Bool, String)> {
        node.status().map { status in
            status.leaderID == 0
                ? (false, "no leader known (term \(status.term), role \(status.role))")
                : (true, "member \(status.id) is \(status.role), leader \(status.leaderID), term \(status.term)")
        }
    }
}

struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The node's observer: the metrics, and on every configuration change the transport, which
/// connects to added members, drops removed ones and refuses removed or replaced members.
struct MemberObserver: RaftNodeObserver {
    let metrics: RaftMetrics
    let transport: PeerTransport
    /// Peer addresses from --cluster, for members whose record has none (data written before
    /// addresses were replicated).
    let fallback: ClusterMap
    let selfID: UInt64
    let logger: Logger

    func statusChanged(from old: RaftNodeStatus, to new: RaftNodeStatus) { metrics.statusChanged(from: old, to: new) }
    func proposalCommitted(after latency: Duration) { metrics.proposalCommitted(after: latency) }
    func proposalFailed() { metrics.proposalFailed() }
    func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int, duration: Duration) {
        metrics.snapshotCreated(index: index, compressedBytes: compressedBytes, rawBytes: rawBytes, duration: duration)
    }
    func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?, duration: Duration) {
        metrics.snapshotInstalled(index: index, compressedBytes: compressedBytes, rawBytes: rawBytes, duration: duration)
    }
    func ticksStepped(_ count: Int, lag: Duration) { metrics.ticksStepped(count, lag: lag) }
    func snapshotTransferEnded(side: SnapshotTransferSide, duration: Duration) {
        metrics.snapshotTransferEnded(side: side, duration: duration)
    }
    func snapshotLoaded(index: UInt64, compressedBytes: Int, rawBytes: Int?) {
        metrics.snapshotLoaded(index: index, compressedBytes: compressedBytes, rawBytes: rawBytes)
    }

    func configurationChanged(to configuration: Configuration, byChange: Bool) {
        metrics.configurationChanged(to: configuration, byChange: byChange)
        // Before the first configuration arrives (a joining member), keep dialling --cluster.
        guard !configuration.isEmpty else { return }
        var peers: [UInt64: PeerAddress] = [:]
        for member in configuration.members where member.id != selfID {
            if let address = try? ClusterMap.address(member.peerAddress) {
                peers[member.id] = PeerAddress(host: address.host, port: address.port)
            } else if let address = fallback.addresses[member.id] {
                peers[member.id] = PeerAddress(host: address.host, port: address.port)
            } else {
                logger.warning("member \(member.id) has no usable peer address ('\(member.peerAddress)'); cannot reach it")
            }
        }
        transport.updateMembership(peers: peers, view: MembershipView(configuration, selfID: selfID))
    }
}

/// Hands the node's outbound messages to the peer transport.
struct TransportSender: MessageSender {
    let transport: PeerTransport
    func send(_ message: Message) { transport.send(message) }
}

/// The service the lifecycle waits on: it ends when the node stops, either because a signal
/// asked for a graceful shutdown or because storage failed (then it throws and the process
/// exits non-zero).
///
/// A graceful shutdown of the leader first hands leadership to the most up-to-date other voter
/// (thesis §3.10) and waits for it to take over (at most twice the election timeout): a planned
/// stop then costs the cluster a hand-over, not an election timeout. Meanwhile clients are
/// answered (writes with NOT_LEADER naming the new leader once it leads). Then the client port
/// closes (no new work) and the node flushes and stops.
struct NodeRunner: Service {
    let node: RaftNode<KVStore>
    let server: ClientServer
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await node.failed.get()
        } onGracefulShutdown: { [node, server, logger] in
            Task {
                await Self.handOverIfLeading(node, logger: logger)
                logger.notice("shutting down: closing the client port, flushing")
                try? await server.close()
                await node.stop()
            }
        }
    }

    static func handOverIfLeading(_ node: RaftNode<KVStore>, logger: Logger) async {
        guard let status = try? await node.status().get(), status.role == .leader,
            status.configuration.voterIDs.contains(where: { $0 != status.id })
        else { return }
        let start = ContinuousClock.now
        logger.notice("shutting down: handing leadership over first")
        do {
            let target = try await node.handOverLeadership().get()
            logger.notice("member \(target) leads now (hand-over took \(ContinuousClock.now - start))")
        } catch {
            logger.warning("leadership hand-over failed (\(error)); stopping anyway, the others will elect a leader")
        }
    }
}
