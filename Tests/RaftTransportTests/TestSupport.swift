import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftChaos
import RaftMessages
import RaftTransport
import RaftWire
import Testing

let clusterID = "test-cluster"
let loopback = "127.0.0.1"

/// Tests must not spray warnings for the bad input they send on purpose.
let quietLogger = Logger(label: "raft.transport.test", factory: { _ in SwiftLogNoOpLogHandler() })

var group: any EventLoopGroup { MultiThreadedEventLoopGroup.singleton }

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns its last value.
func eventually(timeout: Duration = .seconds(15), _ condition: () throws -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}

/// A port nothing listens on, below the kernel's ephemeral range and never handed out twice in
/// this process (`LoopbackPorts`). A port from `bind(0)`, released, can meanwhile become the
/// local port of any outgoing connection: CI saw "Address already in use" when a node bound it.
func unusedPort() async throws -> Int { try LoopbackPorts.free(1)[0] }

// MARK: messages

func voteRequest(term: UInt64 = 1, from: UInt64) -> RaftMessage {
    .requestVote(RequestVoteRequest(term: term, candidateID: from, lastLogIndex: 0, lastLogTerm: 0))
}

func appendRequest(term: UInt64 = 1, from: UInt64, prevLogIndex: UInt64, payload: [UInt8] = []) -> RaftMessage {
    let entries = payload.isEmpty ? [] : [LogEntry(index: prevLogIndex + 1, term: term, data: payload)]
    return .appendEntries(
        AppendEntriesRequest(
            term: term, leaderID: from, prevLogIndex: prevLogIndex, prevLogTerm: term, entries: entries,
            leaderCommit: 0))
}

func snapshotRequest(term: UInt64 = 1, from: UInt64, offset: UInt64) -> RaftMessage {
    .installSnapshot(
        InstallSnapshotRequest(
            term: term, leaderID: from, lastIncludedIndex: 10, lastIncludedTerm: 1, offset: offset, data: [1, 2, 3],
            done: false))
}

/// The response a cooperative node gives: it echoes what identifies the request
/// (`prevLogIndex`, `offset`) so tests can check the pairing.
func response(to request: RaftMessage) -> RaftMessage? {
    switch request {
    case .requestVote(let m):
        .requestVoteResponse(RequestVoteResponse(term: m.term, voteGranted: true))
    case .appendEntries(let m):
        .appendEntriesResponse(
            AppendEntriesResponse(
                term: m.term, success: true, matchIndex: m.prevLogIndex + UInt64(m.entries.count),
                prevLogIndex: m.prevLogIndex))
    case .installSnapshot(let m):
        .installSnapshotResponse(
            InstallSnapshotResponse(term: m.term, lastIncludedIndex: m.lastIncludedIndex, nextOffset: m.offset + 3))
    default:
        nil
    }
}

/// What identifies a request or its response in these tests: kind and echoed number.
func tag(_ body: RaftMessage) -> String {
    switch body {
    case .requestVote, .requestVoteResponse: "vote"
    case .appendEntries(let m): "append \(m.prevLogIndex)"
    case .appendEntriesResponse(let m): "append \(m.prevLogIndex)"
    case .installSnapshot(let m): "snapshot \(m.offset)"
    case .installSnapshotResponse(let m): "snapshot \(m.nextOffset - 3)"
    case .timeoutNow, .timeoutNowResponse: "timeout-now"
    case .readIndex(let m): "read \(m.context)"
    case .readIndexResponse(let m): "read \(m.context)"
    case .memberRefused: "refused"
    }
}

// MARK: a node around a transport

/// A transport plus a task standing in for the node loop: it records every inbound message and,
/// when `autoRespond`, answers each request at once (in delivery order, as the contract asks).
final class TestNode: Sendable {
    let id: UInt64
    let transport: PeerTransport
    let counters = TransportCounters()
    let received = NIOLockedValueBox<[Message]>([])
    private let loop = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let boundPort = NIOLockedValueBox(0)

    init(id: UInt64, configuration: PeerTransportConfiguration) {
        self.id = id
        self.transport = PeerTransport(
            configuration: configuration, group: group, logger: quietLogger, observer: counters)
    }

    static func make(
        id: UInt64, port: Int = 0, peers: [UInt64: PeerAddress],
        configure: (inout PeerTransportConfiguration) -> Void = { _ in }
    ) -> TestNode {
        var configuration = PeerTransportConfiguration(
            selfID: id, clusterID: clusterID, listenAddress: PeerAddress(host: loopback, port: port), peers: peers)
        configuration.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        configure(&configuration)
        return TestNode(id: id, configuration: configuration)
    }

    func start(autoRespond: Bool = true) async throws {
        let port = try await transport.start()
        boundPort.withLockedValue { $0 = port }
        let transport = self.transport
        let received = self.received
        let task = Task {
            for await message in transport.inbound {
                received.withLockedValue { $0.append(message) }
                if autoRespond, let body = response(to: message.body) {
                    transport.send(Message(from: message.to, to: message.from, body: body))
                }
            }
        }
        loop.withLockedValue { $0 = task }
    }

    var port: Int { boundPort.withLockedValue { $0 } }
    var address: PeerAddress { PeerAddress(host: loopback, port: port) }

    var stats: TransportStatistics { counters.snapshot() }

    func messages(from peer: UInt64) -> [Message] {
        received.withLockedValue { $0.filter { $0.from == peer } }
    }

    func send(_ body: RaftMessage, to peer: UInt64) {
        transport.send(Message(from: id, to: peer, body: body))
    }

    func stop() async {
        await transport.shutdown()
        let task = loop.withLockedValue { $0 }
        await task?.value
    }
}

// MARK: raw sockets

/// What a raw connection saw.
struct RawEvents: Sendable {
    var frames: [ByteBuffer] = []
    var closed = false
}

/// Records frames and closure of a raw connection.
final class RawCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let events: NIOLockedValueBox<RawEvents>

    init(events: NIOLockedValueBox<RawEvents>) {
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        events.withLockedValue { $0.frames.append(frame) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.withLockedValue { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A hand-written peer client: raw bytes or envelopes out, frames in, on one TCP connection.
struct RawClient: Sendable {
    let channel: any Channel
    let events = NIOLockedValueBox(RawEvents())

    init(port: Int) async throws {
        let events = self.events
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(RawCollector(events: events))
                }
            }
            .connect(host: loopback, port: port).get()
    }

    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    func send(_ envelope: Envelope) async throws {
        var buffer = channel.allocator.buffer(capacity: 64)
        try WireCodec().encodeFrame(envelope, into: &buffer)
        try await channel.writeAndFlush(buffer)
    }

    var envelopes: [Envelope] {
        get throws { try events.withLockedValue { $0.frames }.map { try WireCodec().decodeEnvelope(from: $0) } }
    }

    var frameCount: Int { events.withLockedValue { $0.frames.count } }
    var isClosed: Bool { events.withLockedValue { $0.closed } }

    func close() async {
        try? await channel.close()
    }
}

/// Node 1, started, whose only peer (2) is a `.reading` raw server that has received one
/// RequestVote from it: the test then answers on that connection as it likes.
func nodeWithVoteRequestAtRawPeer() async throws -> (node: TestNode, peer: RawServer, request: Envelope) {
    let peer = try await RawServer(mode: .reading)
    let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: peer.port)])
    try await node.start()
    node.send(voteRequest(from: 1), to: 2)
    #expect(try await eventually { peer.frameCount == 1 })
    let request = try #require(try peer.envelopes.first)
    return (node, peer, request)
}

/// A hand-written peer server. `.reading` decodes and records the frames of every accepted
/// connection (and lets the test answer on them); `.neverReading` accepts and never reads;
/// `.closingAtOnce` closes every connection it accepts (and counts them as empty frames).
final class RawServer: Sendable {
    enum Mode { case reading, neverReading, closingAtOnce }

    let channel: any Channel
    let events = NIOLockedValueBox(RawEvents())
    let accepted = NIOLockedValueBox<[any Channel]>([])

    init(mode: Mode, port: Int = 0) async throws {
        let events = self.events
        let accepted = self.accepted
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        if mode == .neverReading {
            bootstrap = bootstrap.childChannelOption(ChannelOptions.autoRead, value: false)
                .childChannelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096)
        }
        channel = try await bootstrap.childChannelInitializer { channel in
            if mode == .closingAtOnce {
                events.withLockedValue { $0.frames.append(channel.allocator.buffer(capacity: 0)) }  // count accepts
                return channel.close()
            }
            accepted.withLockedValue { $0.append(channel) }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(RawCollector(events: events))
            }
        }
        .bind(host: loopback, port: port).get()
    }

    var port: Int { channel.localAddress!.port! }
    var frameCount: Int { events.withLockedValue { $0.frames.count } }

    var envelopes: [Envelope] {
        get throws { try events.withLockedValue { $0.frames }.map { try WireCodec().decodeEnvelope(from: $0) } }
    }

    /// Writes `envelope` as a frame on the first accepted connection.
    func reply(_ envelope: Envelope) async throws {
        guard let connection = accepted.withLockedValue({ $0.first }) else { throw RawServerError.noConnection }
        var buffer = connection.allocator.buffer(capacity: 64)
        try WireCodec().encodeFrame(envelope, into: &buffer)
        try await connection.writeAndFlush(buffer)
    }

    func close() async {
        for child in accepted.withLockedValue({ $0 }) { try? await child.close() }
        try? await channel.close()
    }
}

enum RawServerError: Error { case noConnection }
