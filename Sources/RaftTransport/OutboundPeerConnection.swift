import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftMessages
import RaftTLS
import RaftWire

/// This node's one TCP connection to one peer, which carries this node's requests to it and the
/// peer's responses back (with each request's envelope id, in any order): opened lazily on the
/// first request, kept, and reopened with
/// `Backoff` after it fails.
///
/// Threading: `enqueue` runs on the node's thread and never blocks: it appends to a mailbox
/// under a lock held for a few instructions (no I/O, no encoding) and, if no drain is pending,
/// schedules one on the connection's event loop. Everything else — connection state, the codec,
/// envelope ids, the in-flight table, timers — is confined to that one event loop
/// (`NIOLoopBoundBox`), so it needs no locks.
///
/// Bounded queue: the mailbox holds at most `queueLimits` messages and bytes. The loop moves
/// messages from it into the channel only while the channel is writable (NIO's write-buffer
/// water marks) and fewer than `maximumInFlightRequests` await a response. So when the peer is
/// not connected, slow to read, or not answering, the mailbox fills and each further request to
/// it is dropped and counted (`DropReason.queueFull`, `RPCFailure.notSent`). Requests that wait
/// longer than `maximumQueueDelay` are dropped when their turn comes (`DropReason.stale`): Raft
/// resends what matters through heartbeats and probes, and a peer coming back should receive
/// current traffic, not a backlog.
final class OutboundPeerConnection: Sendable {
    let peerID: UInt64
    let address: PeerAddress
    let eventLoop: any EventLoop
    private let context: TransportContext
    private let mailbox = NIOLockedValueBox(Mailbox())
    private let state: NIOLoopBoundBox<LoopState>

    struct Queued: Sendable {
        let body: RaftMessage
        let enqueuedAt: NIODeadline
        let size: Int
    }

    /// Shared between `enqueue` (any thread) and the event loop.
    struct Mailbox: Sendable {
        var items = CircularBuffer<Queued>()
        var bytes = 0
        var drainScheduled = false
        var isShutdown = false
    }

    enum Phase {
        /// No connection and none wanted until a request is queued.
        case idle
        case connecting
        /// `heardBack`: a valid frame came back on it (the peer is really there).
        case connected(channel: any Channel, since: NIODeadline, heardBack: Bool)
        /// Waiting out a backoff delay before the next connect.
        case waiting(Scheduled<Void>)
        case shutdown
    }

    /// Confined to `eventLoop`.
    final class LoopState {
        let codec = WireCodec()
        var phase = Phase.idle
        /// Consecutive failed connects (or connections that died before the peer answered).
        var failures = 0
        var nextID: UInt64 = 1
        var inFlight = InFlightRequests()
        var timeoutTask: Scheduled<Void>?
        var random = SystemRandomNumberGenerator()
        /// Under peer TLS: the channel whose certificate named the member dialled. Frames of any
        /// other channel are dropped (NIOSSL may decode a refused peer's data before it closes).
        var verifiedChannel: ObjectIdentifier?
    }

    init(peerID: UInt64, address: PeerAddress, eventLoop: any EventLoop, context: TransportContext) {
        self.peerID = peerID
        self.address = address
        self.eventLoop = eventLoop
        self.context = context
        self.state = .makeBoxSendingValue(LoopState(), eventLoop: eventLoop)
    }

    private var observer: any TransportObserver { context.observer }
    private var configuration: PeerTransportConfiguration { context.configuration }

    // MARK: any thread

    /// Queues a request for this peer, or drops it if the queue is at its bound. Never blocks.
    func enqueue(_ body: RaftMessage) {
        enum Outcome { case queued, scheduleDrain, full, shutdown }
        let size = context.estimatedFrameSize(of: body)
        let limits = configuration.queueLimits
        let now = NIODeadline.now()
        let outcome: Outcome = mailbox.withLockedValue { box in
            if box.isShutdown { return .shutdown }
            if box.items.count >= limits.maximumMessages || box.bytes + size > limits.maximumBytes { return .full }
            box.items.append(Queued(body: body, enqueuedAt: now, size: size))
            box.bytes += size
            if box.drainScheduled { return .queued }
            box.drainScheduled = true
            return .scheduleDrain
        }
        switch outcome {
        case .queued:
            break
        case .scheduleDrain:
            eventLoop.execute { self.drain() }
        case .full:
            observer.dropped(RPCKind(body), isRequest: true, peer: peerID, reason: .queueFull)
            observer.rpcFailed(RPCKind(body), peer: peerID, reason: .notSent)
        case .shutdown:
            observer.dropped(RPCKind(body), isRequest: true, peer: peerID, reason: .shutdown)
        }
    }

    /// Closes the connection and forgets everything queued; later requests are dropped.
    func shutdown() -> EventLoopFuture<Void> {
        mailbox.withLockedValue { box in
            box.isShutdown = true
            box.items.removeAll()
            box.bytes = 0
        }
        return eventLoop.flatSubmit {
            let state = self.state.value
            let phase = state.phase
            state.phase = .shutdown
            state.timeoutTask?.cancel()
            state.timeoutTask = nil
            _ = state.inFlight.removeAll()
            switch phase {
            case .connected(let channel, _, _):
                return channel.close().recover { _ in }
            case .waiting(let task):
                task.cancel()
                return self.eventLoop.makeSucceededVoidFuture()
            case .idle, .connecting, .shutdown:
                return self.eventLoop.makeSucceededVoidFuture()
            }
        }
    }

    // MARK: event loop

    private func drain() {
        mailbox.withLockedValue { $0.drainScheduled = false }
        let state = self.state.value
        switch state.phase {
        case .shutdown:
            return
        case .connected(let channel, _, _):
            dropStale(now: .now())
            writeQueued(to: channel, state)
        case .connecting, .waiting:
            dropStale(now: .now())
        case .idle:
            dropStale(now: .now())
            if hasQueued { connect(state) }
        }
    }

    private var hasQueued: Bool { mailbox.withLockedValue { !$0.items.isEmpty } }

    /// Moves queued requests into the channel while it is writable and the in-flight table has
    /// room, then flushes once.
    private func writeQueued(to channel: any Channel, _ state: LoopState) {
        let now = NIODeadline.now()
        let maximumDelay = configuration.maximumQueueDelay
        var wrote = false
        while channel.isActive, channel.isWritable, state.inFlight.count < configuration.maximumInFlightRequests {
            let next: Queued? = mailbox.withLockedValue { box in
                guard !box.items.isEmpty else { return nil }
                let item = box.items.removeFirst()
                box.bytes -= item.size
                return item
            }
            guard let item = next else { break }
            let rpc = RPCKind(item.body)
            if now - item.enqueuedAt > maximumDelay {
                observer.dropped(rpc, isRequest: true, peer: peerID, reason: .stale)
                observer.rpcFailed(rpc, peer: peerID, reason: .notSent)
                continue
            }
            let id = state.nextID
            state.nextID &+= 1
            let envelope = Envelope(
                clusterID: context.clusterID, fromID: context.selfID, toID: peerID, id: id,
                fromIncarnation: configuration.selfIncarnation, body: item.body)
            var buffer = channel.allocator.buffer(capacity: item.size)
            do {
                try state.codec.encodeFrame(envelope, into: &buffer)
            } catch {
                observer.dropped(rpc, isRequest: true, peer: peerID, reason: .encodingFailed)
                context.logger.error("cannot encode request", metadata: ["peer": "\(peerID)", "error": "\(error)"])
                continue
            }
            guard buffer.readableBytes - 4 <= configuration.maximumFrameLength else {
                context.dropOversized(rpc, isRequest: true, bytes: buffer.readableBytes, peer: peerID)
                continue
            }
            state.inFlight.insert(
                id: id, .init(rpc: rpc, enqueuedAt: item.enqueuedAt, deadline: now + configuration.requestTimeout))
            observer.frameSent(to: peerID, rpc: rpc, isRequest: true, bytes: buffer.readableBytes)
            channel.write(buffer, promise: nil)
            wrote = true
        }
        if wrote {
            channel.flush()
            armRequestTimer(state)
        }
    }

    /// Drops queued requests older than `maximumQueueDelay` (while the peer is unreachable).
    private func dropStale(now: NIODeadline) {
        let maximumDelay = configuration.maximumQueueDelay
        let stale: [RPCKind] = mailbox.withLockedValue { box in
            var stale: [RPCKind] = []
            while let first = box.items.first, now - first.enqueuedAt > maximumDelay {
                box.items.removeFirst()
                box.bytes -= first.size
                stale.append(RPCKind(first.body))
            }
            return stale
        }
        for rpc in stale {
            observer.dropped(rpc, isRequest: true, peer: peerID, reason: .stale)
            observer.rpcFailed(rpc, peer: peerID, reason: .notSent)
        }
    }

    private func connect(_ state: LoopState) {
        state.phase = .connecting
        let configuration = self.configuration
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: configuration.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let tls = configuration.tls {
                        try tls.client.addClientHandlers(to: channel, serverHost: self.address.host)
                    }
                    try operations.addHandler(
                        ByteToMessageHandler(
                            LengthPrefixedFrameDecoder(maximumFrameLength: configuration.maximumFrameLength)))
                    try operations.addHandler(OutboundEnvelopeHandler(connection: self))
                }
            }
        bootstrap.connect(host: address.host, port: address.port).assumeIsolated().whenComplete { result in
            self.connectCompleted(result)
        }
    }

    private func connectCompleted(_ result: Result<any Channel, any Error>) {
        let state = self.state.value
        switch result {
        case .success(let channel):
            guard case .connecting = state.phase else {
                channel.close(promise: nil)
                return
            }
            state.phase = .connected(channel: channel, since: .now(), heardBack: false)
            observer.connected(to: peerID)
            context.logger.log(
                level: state.failures > 0 ? .info : .debug, "connected to peer",
                metadata: ["peer": "\(peerID)", "address": "\(address)", "failures": "\(state.failures)"])
            writeQueued(to: channel, state)
        case .failure(let error):
            guard case .connecting = state.phase else { return }
            state.failures += 1
            observer.connectFailed(to: peerID)
            // One warning per outage (its first failure), not one per attempt; the connect that
            // ends the outage logs at info.
            let level: Logger.Level = state.failures == 1 ? .warning : .debug
            context.logger.log(
                level: level, "cannot connect to peer",
                metadata: [
                    "peer": "\(peerID)", "address": "\(address)", "error": "\(error)",
                    "failures": "\(state.failures)",
                ])
            scheduleReconnect(state)
        }
    }

    private func scheduleReconnect(_ state: LoopState) {
        let delay = configuration.backoff.delay(afterFailures: state.failures, using: &state.random)
        observer.reconnectScheduled(to: peerID, failures: state.failures, delay: delay)
        let task = eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.reconnectTimerFired()
        }
        state.phase = .waiting(task)
    }

    private func reconnectTimerFired() {
        let state = self.state.value
        guard case .waiting = state.phase else { return }
        state.phase = .idle
        dropStale(now: .now())
        // Lazy: with nothing to send, the next request starts the connect (the delay is served).
        if hasQueued { connect(state) }
    }

    private func armRequestTimer(_ state: LoopState) {
        guard state.timeoutTask == nil, let deadline = state.inFlight.earliestDeadline else { return }
        state.timeoutTask = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.requestTimerFired()
        }
    }

    private func requestTimerFired() {
        let state = self.state.value
        state.timeoutTask = nil
        let expired = state.inFlight.expire(now: .now())
        for entry in expired {
            observer.rpcFailed(entry.rpc, peer: peerID, reason: .timeout)
        }
        if !expired.isEmpty {
            context.logger.debug(
                "requests to peer timed out", metadata: ["peer": "\(peerID)", "count": "\(expired.count)"])
            if case .connected(let channel, _, _) = state.phase { writeQueued(to: channel, state) }
        }
        armRequestTimer(state)
    }

    // MARK: events from OutboundEnvelopeHandler (event loop)

    func frameReceived(_ frame: ByteBuffer, on channel: any Channel) {
        let state = self.state.value
        guard case .connected(let current, let since, _) = state.phase, current === channel else { return }
        // Under TLS, nothing is read from a member before it proved to be the one dialled.
        if configuration.tls != nil, state.verifiedChannel != ObjectIdentifier(channel) { return }
        let frameBytes = 4 + frame.readableBytes
        let envelope: Envelope
        do {
            envelope = try state.codec.decodeEnvelope(from: frame)
        } catch let error as WireError {
            return protocolError(.malformedEnvelope(error), on: channel)
        } catch {
            return protocolError(
                .malformedEnvelope(.malformed(message: "raft.Envelope", byteCount: frame.readableBytes)), on: channel)
        }
        let body: RaftMessage
        switch context.validate(envelope, expectedSender: peerID) {
        case .failure(.refusedMember(let peer, let refusal)):
            // The peer we dialled is refused (its data directory was lost, say): tell it — it
            // gets the notice on its inbound side — and close once that is written.
            context.reject(.refusedMember(peer, refusal), direction: .outbound, remote: channel.remoteAddress)
            var buffer = channel.allocator.buffer(capacity: 256)
            guard context.notifies(refusal),
                (try? state.codec.encodeFrame(context.refusalEnvelope(to: peer, id: 0, refusal), into: &buffer)) != nil
            else { return channel.close(promise: nil) }
            channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
            return
        case .failure(let rejection): return protocolError(rejection, on: channel)
        case .success(.memberRefused(let refusal)):
            observer.frameReceived(from: peerID, rpc: .memberRefused, isRequest: false, bytes: frameBytes)
            context.refusedBy(peerID, refusal)
            return
        case .success(let valid): body = valid
        }
        let rpc = RPCKind(body)
        let wasFull = state.inFlight.count >= configuration.maximumInFlightRequests
        if let request = state.inFlight.remove(id: envelope.id) {
            guard request.rpc == rpc else {
                observer.rpcFailed(request.rpc, peer: peerID, reason: .connectionLost)
                return protocolError(.mismatchedResponse(id: envelope.id), on: channel)
            }
            observer.rpcCompleted(rpc, peer: peerID, latency: .now() - request.enqueuedAt)
        }
        // A response to an expired request is still a valid Raft message (it carries its own
        // term and indices); it is delivered, its RPC already counted as failed.
        observer.frameReceived(from: peerID, rpc: rpc, isRequest: false, bytes: frameBytes)
        state.phase = .connected(channel: current, since: since, heardBack: true)
        state.failures = 0
        context.delivery.deliver(Message(from: peerID, to: context.selfID, body: body))
        if wasFull { writeQueued(to: channel, state) }
    }

    /// The TLS handshake completed: the member that answered must be the one dialled (the
    /// address may now belong to another member, or a member may use another's address).
    func authenticated(_ peer: TLSPeerAuthenticated, on channel: any Channel) {
        guard let tls = configuration.tls else { return }
        if peer.memberID == peerID {
            state.value.verifiedChannel = ObjectIdentifier(channel)
            return
        }
        tls.refuse(
            .unexpectedMember, endpoint: tls.client,
            detail: "dialled member \(peerID) at \(address), certificate names \(peer.commonName ?? "no common name")",
            remote: "\(address)")
        channel.close(promise: nil)
    }

    func writabilityChanged(on channel: any Channel) {
        let state = self.state.value
        guard case .connected(let current, _, _) = state.phase, current === channel, channel.isWritable else { return }
        writeQueued(to: channel, state)
    }

    func connectionError(_ error: any Error, on channel: any Channel) {
        if let frameError = error as? FrameError {
            protocolError(.badFrame(frameError), on: channel)
        } else {
            context.logger.debug("peer connection error", metadata: ["peer": "\(peerID)", "error": "\(error)"])
            channel.close(promise: nil)
        }
    }

    func channelClosed(_ channel: any Channel) {
        let state = self.state.value
        guard case .connected(let current, let since, let heardBack) = state.phase, current === channel else { return }
        for request in state.inFlight.removeAll() {
            observer.rpcFailed(request.rpc, peer: peerID, reason: .connectionLost)
        }
        state.timeoutTask?.cancel()
        state.timeoutTask = nil
        observer.disconnected(from: peerID)
        context.logger.debug("connection to peer closed", metadata: ["peer": "\(peerID)"])
        // A connection that carried answers, or lived past the longest backoff, was healthy: try
        // again at once. One the peer closed before ever answering counts as a failure, so a
        // peer that accepts and drops connections is not hammered.
        if heardBack || .now() - since >= configuration.backoff.maximum {
            state.failures = 0
            state.phase = .idle
            dropStale(now: .now())
            if hasQueued { connect(state) }
        } else {
            state.failures += 1
            scheduleReconnect(state)
        }
    }

    private func protocolError(_ rejection: InboundRejection, on channel: any Channel) {
        context.reject(rejection, direction: .outbound, remote: channel.remoteAddress)
        channel.close(promise: nil)
    }
}
