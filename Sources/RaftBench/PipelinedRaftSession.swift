import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftClient
import RaftMessages
import RaftTLS
import RaftWire

/// A worker's lean session with the swift-raft leader: one connection (two with `--read-from
/// all`: reads go to the worker's own member, on the same event loop), one client id, and
/// `--pipeline D` requests in flight, driven on the connection's event loop. A write's sequence number is reserved and its frame
/// queued on the channel under one lock, so sequences reach the leader in order (a shared
/// `KVClient` could send sequence n+1 before n, and the node would then refuse n as older
/// than its last write). No redirects and no retries: a NOT_LEADER, TIMEOUT or lost connection
/// counts as an error of the run. With `--cacert` every connection speaks TLS (with the client
/// certificate of `--cert`, if any).
final class PipelinedRaftSession: LoopDrivenSession {
    private let channel: any Channel
    /// Where reads go: `channel` itself, or a connection to another member.
    private let readChannel: any Channel
    private let clientID = UInt64.random(in: 1...UInt64.max)
    private let state: NIOLockedValueBox<State>
    private let pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>

    private struct State {
        var nextRequestID: UInt64 = 0
        var sequence: UInt64 = 0
    }

    private init(
        channel: any Channel, readChannel: any Channel, pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>
    ) {
        self.channel = channel
        self.readChannel = readChannel
        self.pending = pending
        self.state = NIOLockedValueBox(State())
    }

    /// The client address of the member that calls itself leader, asked of each endpoint in turn
    /// (over TLS with `tls`). A TLS failure ends the search at once (`BenchTLSError`).
    static func findLeader(among endpoints: [String], group: any EventLoopGroup, tls: TLSEndpoint? = nil) async throws -> String {
        let probe = KVClient(endpoints: endpoints, group: group, timeout: .seconds(2), tls: tls)
        let found = await outcome { () async throws -> String in
            for _ in 0..<50 {
                for endpoint in endpoints {
                    do {
                        if try await probe.status(of: endpoint).role == "leader" { return endpoint }
                    } catch {
                        if let failure = BenchTLSError(error) { throw failure }
                    }
                }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            throw BenchFailure(description: "no member of \(endpoints.joined(separator: ",")) says it is the leader")
        }
        // Closed before the caller may shut the event loops down.
        await probe.close()
        return try found.get()
    }

    /// Writes go to `endpoint` (the leader); reads to `readEndpoint` when given. With `tls`, each
    /// connection completes its handshake first (a failure throws `BenchTLSError`).
    static func connect(
        to endpoint: String, readingFrom readEndpoint: String? = nil, group: any EventLoopGroup, tls: TLSEndpoint? = nil
    ) async throws -> PipelinedRaftSession {
        let pending = NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>([:])
        let channel = try await open(endpoint, on: group, pending: pending, tls: tls)
        var readChannel = channel
        if let readEndpoint, readEndpoint != endpoint {
            do {
                readChannel = try await open(readEndpoint, on: channel.eventLoop, pending: pending, tls: tls)
            } catch {
                try? await channel.close()
                throw error
            }
        }
        return PipelinedRaftSession(channel: channel, readChannel: readChannel, pending: pending)
    }

    private static func open(
        _ endpoint: String, on group: any EventLoopGroup, pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>,
        tls: TLSEndpoint?
    ) async throws -> any Channel {
        let (host, port) = try splitEndpoint(endpoint)
        let security = BenchTLSConnection(tls: tls, endpoint: endpoint, host: host)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try security.addHandlers(to: channel)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(ClientResponseMatcher(endpoint: endpoint, pending: pending))
                }
            }
            .connect(host: host, port: port)
            .get()
        try await security.waitForHandshake(of: channel)
        return channel
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    func issue(_ operation: BenchOperation) -> EventLoopFuture<Void> {
        switch operation {
        case .put(let key, let value):
            return send(.put(key: key, value: value), isWrite: true).flatMapThrowing { response in
                guard response.status == .ok else {
                    throw BenchFailure(description: "put: \(response.status) \(response.error)")
                }
            }
        case .get(let key):
            return send(.get(key: key), isWrite: false).flatMapThrowing { response in
                guard response.status == .ok || response.status == .notFound else {
                    throw BenchFailure(description: "get: \(response.status) \(response.error)")
                }
            }
        }
    }

    private func send(_ operation: KVOperation, isWrite: Bool) -> EventLoopFuture<ClientResponse> {
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        do {
            try enqueue(operation, isWrite: isWrite, promise: promise)
        } catch {
            promise.fail(error)
        }
        return promise.futureResult
    }

    private func enqueue(_ operation: KVOperation, isWrite: Bool, promise: EventLoopPromise<ClientResponse>) throws {
        try state.withLockedValue { state in
            state.nextRequestID += 1
            let id = state.nextRequestID
            var request = ClientRequest(requestID: id, operation: operation)
            if isWrite {
                state.sequence += 1
                request.clientID = clientID
                request.sequence = state.sequence
            }
            let target = isWrite ? channel : readChannel
            var buffer = target.allocator.buffer(capacity: 64 + 16)
            try WireCodec().encodeFrame(request, into: &buffer)
            pending.withLockedValue { $0[id] = promise }
            // Queued on the event loop in call order, so frames leave in sequence order.
            target.writeAndFlush(buffer).whenFailure { [pending] error in
                pending.withLockedValue { $0.removeValue(forKey: id) }?.fail(error)
            }
        }
    }

    func close() async {
        try? await channel.close()
        if readChannel !== channel { try? await readChannel.close() }
    }
}
