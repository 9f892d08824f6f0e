import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftMessages
import RaftTLS
import RaftWire

/// Why a client call failed.
public enum KVClientError: Error, Hashable, Sendable, CustomStringConvertible {
    case badEndpoint(String)
    case connectionClosed(endpoint: String)
    case noLeader(tried: [String])
    case timedOut(afterSeconds: Double)
    case server(status: KVStatus, message: String)
    /// The TLS handshake with `endpoint` failed, or the server ended the session over this
    /// client's certificate (`reason` says which).
    case tls(endpoint: String, reason: String)

    public var description: String {
        switch self {
        case .badEndpoint(let e): "bad endpoint '\(e)': expected host:port"
        case .connectionClosed(let e): "connection to \(e) closed"
        case .noLeader(let tried): "no leader reachable (tried \(tried.joined(separator: ", ")))"
        case .timedOut(let s): "no answer within \(s) s"
        case .server(let status, let message): "\(status): \(message)"
        case .tls(let e, let reason): "TLS with \(e) failed: \(reason)"
        }
    }
}

/// One TCP connection to a node's client port. Requests are pipelined: each gets a fresh
/// `request_id`, and answers are matched by it, in whatever order they come.
final class ClientConnection: Sendable {
    let endpoint: String
    private let channel: any Channel
    private let pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>
    private let nextID = NIOLockedValueBox<UInt64>(0)

    private init(endpoint: String, channel: any Channel, pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>) {
        self.endpoint = endpoint
        self.channel = channel
        self.pending = pending
    }

    /// Connects to `endpoint` (and, with `tls`, completes the handshake: a TLS failure throws
    /// `KVClientError.tls` saying why).
    static func connect(
        to endpoint: String, group: any EventLoopGroup, timeout: TimeAmount, tls: TLSEndpoint? = nil
    ) async throws -> ClientConnection {
        let (host, port) = try Self.hostAndPort(endpoint)
        let pending = NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>([:])
        let handshake = TLSClientHandshake(tls: tls, serverHost: host)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try handshake.addHandlers(to: channel)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        ClientResponseMatcher(endpoint: endpoint, pending: pending))
                }
            }
            .connect(host: host, port: port)
            .get()
        do {
            try await handshake.wait(closingOnFailure: channel)
        } catch {
            // A handshake cut short (the member restarting, a timeout) is worth retrying; a
            // certificate refused either way is not.
            if let failure = error as? TLSHandshakeError, [.closed, .timeout, .other].contains(failure.reason) {
                throw KVClientError.connectionClosed(endpoint: endpoint)
            }
            throw KVClientError.tls(endpoint: endpoint, reason: "\(error)")
        }
        return ClientConnection(endpoint: endpoint, channel: channel, pending: pending)
    }

    /// `host:port` or `[v6]:port`.
    static func hostAndPort(_ endpoint: String) throws -> (String, Int) {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else {
            throw KVClientError.badEndpoint(endpoint)
        }
        var host = String(endpoint[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    var isActive: Bool { channel.isActive }

    /// Sends `request` (its `requestID` is replaced) and waits for the answer.
    /// With `timeout`, an answer that has not come by then fails the call with `.timedOut` (a
    /// late one is dropped): a member that is paused or cut off holds no caller longer.
    func send(_ request: ClientRequest, timeout: TimeAmount? = nil) async throws -> ClientResponse {
        var request = request
        let id = nextID.withLockedValue {
            $0 += 1
            return $0
        }
        request.requestID = id
        var buffer = channel.allocator.buffer(capacity: 64)
        try WireCodec().encodeFrame(request, into: &buffer)
        let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
        pending.withLockedValue { $0[id] = promise }
        channel.writeAndFlush(buffer).whenFailure { [pending, endpoint] _ in
            pending.withLockedValue { $0.removeValue(forKey: id) }?
                .fail(KVClientError.connectionClosed(endpoint: endpoint))
        }
        if let timeout {
            let expiry = channel.eventLoop.scheduleTask(in: timeout) { [pending] in
                pending.withLockedValue { $0.removeValue(forKey: id) }?
                    .fail(KVClientError.timedOut(afterSeconds: Double(timeout.nanoseconds) / 1e9))
            }
            promise.futureResult.whenComplete { _ in expiry.cancel() }
        }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

/// Matches answers on a client-port connection to their requests: completes the promise that
/// waits under each answer's `request_id`, and fails every pending one when the connection ends.
/// Used by `ClientConnection` and by other pipelining clients (raft-bench).
public final class ClientResponseMatcher: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer

    private let endpoint: String
    private let pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>
    private let codec = WireCodec()
    /// Why the connection ended, when it ended with an error.
    private var closingError: KVClientError?

    /// `pending`: request id → promise, shared with the code that sends the requests.
    public init(endpoint: String, pending: NIOLockedValueBox<[UInt64: EventLoopPromise<ClientResponse>]>) {
        self.endpoint = endpoint
        self.pending = pending
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            let response = try codec.decodeClientResponse(from: Self.unwrapInboundIn(data))
            pending.withLockedValue { $0.removeValue(forKey: response.requestID) }?.succeed(response)
        } catch {
            context.close(promise: nil)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let all = pending.withLockedValue { pending in
            defer { pending.removeAll() }
            return pending.values
        }
        for promise in all { promise.fail(closingError ?? KVClientError.connectionClosed(endpoint: endpoint)) }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closingError == nil, let refusal = tlsRefusalAfterHandshake(error) {
            closingError = .tls(endpoint: endpoint, reason: refusal)
        }
        context.close(promise: nil)
    }
}
