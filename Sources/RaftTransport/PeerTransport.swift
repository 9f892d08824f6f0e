import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftMessages
import RaftWire

/// The peer-to-peer transport of one Raft node: TCP, length-prefixed `raft.Envelope` frames
/// (proto/raft.proto).
///
/// ## Use
/// ```swift
/// let transport = PeerTransport(configuration: config, group: group, logger: logger, observer: metrics)
/// let port = try await transport.start()
/// Task { for await message in transport.inbound { /* step into the core */ } }
/// transport.send(contentsOf: ready.messages)               // at once (leader requests)
/// transport.send(contentsOf: ready.messagesAfterPersist)   // after persisting, as `Ready` orders
/// await transport.shutdown()
/// ```
///
/// ## Threading
/// `send` may be called from any thread or task; it never blocks, never awaits and performs no
/// I/O: it queues the message (a short lock, no encoding) and returns. All I/O, encoding and
/// connection state live on NIO event loops: each peer's outbound connection is pinned to one
/// loop of `group`, each accepted connection to its own. Received messages reach the node
/// through `inbound`, an `AsyncStream` the node loop iterates: the node needs no lock and
/// no callback runs on its behalf on an event loop. `inbound` has a single consumer.
///
/// ## Connections
/// Requests (`body.isRequest`) to peer P go out on this node's one outbound connection to P,
/// opened on first use and reopened with `Backoff`; each gets a fresh envelope id, increasing on
/// that connection, and is tracked until its response (same id, any order) comes back on the
/// same connection, or until `requestTimeout`. Responses to P go back on the connection P's
/// request came in on, with that request's id (see "Response pairing").
///
/// ## Response pairing (the node's side of the contract)
/// The core never sees envelope ids, so the transport pairs responses to requests itself:
/// **for every request delivered on `inbound`, the node sends exactly one response to its
/// sender, and answers each peer's requests in the order they were delivered.** Stepping
/// inbound messages in the order received and passing each `Ready.messagesAfterPersist` (which
/// holds every response) to `send` in its order (not reordered, which `Ready` would otherwise
/// allow) does this. The transport keeps
/// the delivered requests of each peer in a FIFO and gives each response the connection and id
/// of the oldest pending request of the same kind; pending requests of other kinds ahead of it
/// are taken as skipped by the node, discarded and counted (`responsesResynchronized`). So a
/// request the core leaves unanswered (it ignores a RequestVote inside a leader lease) costs a
/// resynchronization, not a wrong pairing of other kinds; the next response *of the same kind*
/// does take that stale entry's id, which Raft does not mind (responses carry their own term and
/// indices, and the requester delivers late responses too), until the entry is older than
/// `pendingResponseLifetime` and forgotten. A response with no pending request
/// of its kind, or whose request's connection has closed, is dropped and counted: the
/// requester's timeout and Raft's retries cover it. A request dropped because `inbound` was full
/// is never recorded, so it expects no response.
///
/// ## Bounded queues: what happens when a peer is slow or dead
/// Nothing queues without bound. Requests to a peer wait in that peer's queue while it is not
/// connected or its channel is not writable (NIO write-buffer water marks); when the queue holds
/// `queueLimits.maximumMessages` messages or `maximumBytes` bytes, **new requests to that peer are
/// dropped** (counted as `DropReason.queueFull`), and queued ones older than `maximumQueueDelay`
/// are dropped when their turn comes (`DropReason.stale`). Responses are bounded likewise per
/// inbound connection. Raft tolerates loss: the leader resends through heartbeats and probes and
/// candidates retry elections, whereas stale queued messages would only delay current ones. Other
/// peers and the node loop are never affected.
///
/// ## Membership
/// The peers change with the replicated configuration: `updateMembership` opens connections to
/// added members, closes those to removed ones, and updates the `MembershipView` by which
/// envelopes of removed members, and of members running on a data directory other than the one
/// the configuration records (another incarnation), are refused: answered `MemberRefused`,
/// counted, their connection closed. A `MemberRefused` this node receives is handed to
/// `onRefused` (the node stops). Envelopes from ids the configuration does not know yet are
/// accepted: a member added by a change this node has not applied may already lead.
///
/// ## Transport security
/// With `configuration.tls` set, every connection is mutual TLS and bound to the member id its
/// certificate names; see `PeerTLS`.
///
/// ## Bad input
/// A bad frame, a non-envelope, an envelope without body, of a foreign cluster, not for us, or
/// from id 0, is counted (`TransportObserver.rejected`), logged, and its connection is closed;
/// every other connection keeps being served.
public final class PeerTransport: Sendable {
    public let configuration: PeerTransportConfiguration

    /// Messages from peers for the node loop, requests and responses alike, `from` set to the
    /// sending peer. Buffers up to `inboundBufferCapacity`; beyond that new messages are dropped
    /// and counted. Finishes on `shutdown()`.
    public let inbound: AsyncStream<Message>

    private let context: TransportContext
    private let group: any EventLoopGroup
    private let continuation: AsyncStream<Message>.Continuation
    private let outbound: NIOLockedValueBox<[UInt64: OutboundPeerConnection]>
    private let server = NIOLockedValueBox(ServerState.idle)
    private let inboundChannels: NIOLockedValueBox<InboundChannels>

    enum ServerState {
        case idle
        case starting
        case listening(any Channel)
        case shutdown
    }

    /// Accepted connections, to close them on shutdown.
    struct InboundChannels: Sendable {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var isShutdown = false
    }

    /// `onInbound`, when given, receives every inbound message directly, on the event loop that
    /// read it, instead of `inbound` (which then stays empty): it must not block and must not
    /// send synchronously (hop to the node's loop); returning false drops the message as
    /// `inboundBufferFull`. This saves the thread hop of an `AsyncStream` consumer per message.
    ///
    /// `onRefused` is told when a peer refuses this member (`MemberRefused`: it was removed, or
    /// its data directory is not the one the cluster knows); the node must stop.
    public init(
        configuration: PeerTransportConfiguration, group: any EventLoopGroup,
        logger: Logger = Logger(label: "raft.transport"),
        observer: any TransportObserver = NoopTransportObserver(),
        onInbound: (@Sendable (Message) -> Bool)? = nil,
        onRefused: (@Sendable (UInt64, MemberRefused) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.group = group
        (inbound, continuation) = AsyncStream.makeStream(
            of: Message.self, bufferingPolicy: .bufferingOldest(configuration.inboundBufferCapacity))
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.selfID)"
        let context = TransportContext(
            configuration: configuration, observer: observer, logger: logger,
            delivery: InboundDelivery(continuation: continuation, handler: onInbound, observer: observer),
            onRefused: onRefused)
        self.context = context
        var outbound: [UInt64: OutboundPeerConnection] = [:]
        for (id, address) in configuration.peers where id != configuration.selfID {
            outbound[id] = OutboundPeerConnection(
                peerID: id, address: address, eventLoop: group.next(), context: context)
        }
        self.outbound = NIOLockedValueBox(outbound)
        self.inboundChannels = NIOLockedValueBox(InboundChannels())
    }

    /// Starts the peer server on `configuration.listenAddress` and returns the port it listens on
    /// (useful with port 0). Outbound connections open on demand, not here.
    @discardableResult
    public func start() async throws -> Int {
        try server.withLockedValue { state in
            switch state {
            case .idle: break
            case .shutdown: throw PeerTransportError.shutDown
            case .starting, .listening: throw PeerTransportError.alreadyStarted
            }
            state = .starting
        }
        let context = self.context
        let inboundChannels = self.inboundChannels
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: configuration.writeBufferWaterMark)
            .childChannelInitializer { channel in
                let accepted = inboundChannels.withLockedValue { registry in
                    guard !registry.isShutdown else { return false }
                    registry.channels[ObjectIdentifier(channel)] = channel
                    return true
                }
                guard accepted else { return channel.close() }
                channel.closeFuture.whenComplete { _ in
                    inboundChannels.withLockedValue { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let tls = context.configuration.tls { try tls.server.addServerHandlers(to: channel) }
                    try operations.addHandler(
                        ByteToMessageHandler(
                            LengthPrefixedFrameDecoder(maximumFrameLength: context.configuration.maximumFrameLength)))
                    try operations.addHandler(InboundEnvelopeHandler(context: context))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(
                host: configuration.listenAddress.host, port: configuration.listenAddress.port
            ).get()
        } catch {
            server.withLockedValue { state in
                if case .starting = state { state = .idle }
            }
            throw error
        }
        let keep = server.withLockedValue { state -> Bool in
            guard case .starting = state else { return false }
            state = .listening(channel)
            return true
        }
        guard keep else {
            try? await channel.close()
            throw PeerTransportError.shutDown
        }
        let port = channel.localAddress?.port ?? configuration.listenAddress.port
        context.logger.info(
            "peer server listening", metadata: ["address": "\(configuration.listenAddress.host):\(port)"])
        return port
    }

    /// Where the peer server listens, once started.
    public var localAddress: SocketAddress? {
        server.withLockedValue { state in
            if case .listening(let channel) = state { return channel.localAddress }
            return nil
        }
    }

    /// Sends one message to `message.to` (its `from` is taken to be this node). Never blocks;
    /// the message may be dropped (see "Bounded queues") — Raft's retries cover that.
    public func send(_ message: Message) {
        let rpc = RPCKind(message.body)
        guard message.body.isRequest else {
            // A response goes back on its request's connection: no address needed (a member not
            // in this node's configuration yet may be asking).
            if let pending = context.router.takePending(for: rpc, peer: message.to) {
                pending.connection.sendResponse(message.body, id: pending.envelopeID, to: message.to)
            } else {
                context.observer.dropped(rpc, isRequest: false, peer: message.to, reason: .noPendingRequest)
                context.logger.debug(
                    "response without a pending request dropped",
                    metadata: ["to": "\(message.to)", "rpc": "\(rpc.rawValue)"])
            }
            return
        }
        guard let peer = outbound.withLockedValue({ $0[message.to] }) else {
            context.observer.dropped(rpc, isRequest: true, peer: message.to, reason: .unknownPeer)
            context.logger.debug("request to a member with no known address dropped", metadata: ["to": "\(message.to)"])
            return
        }
        peer.enqueue(message.body)
    }

    /// The members to connect to (their peer addresses; an entry for this node is ignored) and
    /// the membership view to refuse envelopes by. Connections to members no longer listed are
    /// closed (what was queued for them is dropped), new members are connected to on their first
    /// request, and a member whose address changed is reached at the new one.
    public func updateMembership(peers: [UInt64: PeerAddress], view: MembershipView) {
        context.membership.withLockedValue { $0 = view }
        var closed: [OutboundPeerConnection] = []
        outbound.withLockedValue { current in
            for (id, connection) in current where peers[id] != connection.address {
                closed.append(connection)
                current[id] = nil
            }
            for (id, address) in peers where id != configuration.selfID && current[id] == nil {
                current[id] = OutboundPeerConnection(peerID: id, address: address, eventLoop: group.next(), context: context)
            }
        }
        for connection in closed {
            context.logger.info(
                "no longer connecting to member", metadata: ["peer": "\(connection.peerID)", "address": "\(connection.address)"])
            _ = connection.shutdown()
        }
    }

    /// The members this transport connects to.
    public var peerAddresses: [UInt64: PeerAddress] {
        outbound.withLockedValue { $0.mapValues(\.address) }
    }

    /// Sends each message in order (e.g. `Ready.messages`).
    public func send<Messages: Sequence<Message>>(contentsOf messages: Messages) {
        for message in messages { send(message) }
    }

    /// Stops the server, closes every connection, drops what is queued and finishes `inbound`.
    /// Does not shut down `group` (the caller owns it). Idempotent.
    public func shutdown() async {
        let listening: (any Channel)? = server.withLockedValue { state in
            defer { state = .shutdown }
            if case .listening(let channel) = state { return channel }
            return nil
        }
        if let listening { try? await listening.close() }
        let accepted = inboundChannels.withLockedValue { registry in
            registry.isShutdown = true
            return Array(registry.channels.values)
        }
        for channel in accepted { try? await channel.close() }
        for connection in outbound.withLockedValue({ Array($0.values) }) { try? await connection.shutdown().get() }
        context.router.removeAll()
        continuation.finish()
    }
}

/// Misuse of a `PeerTransport`'s lifecycle.
public enum PeerTransportError: Error, Hashable, Sendable {
    case alreadyStarted
    case shutDown
}
