import NIOCore
import RaftCore
import RaftMessages
import RaftTransport
import RaftWire
import Testing

/// Requests and responses between real transports on loopback (proto/raft.proto).
@Suite("Request and response exchange")
struct ExchangeTests {
    /// Three nodes, each sending every other one a RequestVote and an AppendEntries and answering
    /// what it receives: every request is answered, every response paired with its request.
    @Test func threeTransportsExchangeRequestsAndResponses() async throws {
        // Every node must know the others' addresses before starting: reserve three ports.
        let ports = [try await unusedPort(), try await unusedPort(), try await unusedPort()]
        let addresses: [UInt64: PeerAddress] = [
            1: PeerAddress(host: loopback, port: ports[0]), 2: PeerAddress(host: loopback, port: ports[1]),
            3: PeerAddress(host: loopback, port: ports[2]),
        ]
        let nodes = (1...3).map { id in
            TestNode.make(id: UInt64(id), port: ports[id - 1], peers: addresses)
        }
        for node in nodes { try await node.start() }

        // Every node asks every other node for a vote and sends it an AppendEntries.
        for node in nodes {
            for peer in nodes where peer.id != node.id {
                node.send(voteRequest(from: node.id), to: peer.id)
                node.send(appendRequest(from: node.id, prevLogIndex: node.id * 10 + peer.id), to: peer.id)
            }
        }
        // Completions are counted by the transport as responses arrive; the test's consumer of
        // `inbound` records the messages a moment later: wait for both.
        let allAnswered = try await eventually {
            nodes.allSatisfy { node in
                node.stats.rpcCompletions.values.reduce(0, +) == 4
                    && nodes.allSatisfy { $0.id == node.id || node.messages(from: $0.id).count == 4 }
            }
        }
        #expect(allAnswered)
        for node in nodes {
            for peer in nodes where peer.id != node.id {
                // Each node received from each peer: 2 requests and 2 responses.
                let tags = node.messages(from: peer.id).map { "\($0.body.isRequest ? "req" : "resp") \(tag($0.body))" }
                #expect(
                    Set(tags)
                        == [
                            "req vote", "req append \(peer.id * 10 + node.id)", "resp vote",
                            "resp append \(node.id * 10 + peer.id)",
                        ], "node \(node.id) from \(peer.id)")
                #expect(tags.count == 4)
                #expect(node.messages(from: peer.id).allSatisfy { $0.to == node.id })
            }
            // A completion is counted only for a response whose id matched an in-flight request of
            // the same kind on the connection that request went out on.
            let stats = node.stats
            #expect(stats.requestsSent == [.requestVote: 2, .appendEntries: 2])
            #expect(stats.requestsReceived == [.requestVote: 2, .appendEntries: 2])
            #expect(stats.framesSent == 8 && stats.framesReceived == 8)
            #expect(stats.rpcCompletions[.requestVote] == 2)
            #expect(stats.rpcCompletions[.appendEntries] == 2)
            #expect(stats.rpcFailures.isEmpty)
            #expect(stats.rejections.isEmpty)
            #expect(stats.drops.isEmpty)
            #expect(stats.bytesSent.keys.sorted() == nodes.map(\.id).filter { $0 != node.id })
        }
        for node in nodes { await node.stop() }
    }

    /// proto/raft.proto: "A response travels back on the connection its request came in on, with the
    /// same `id`" — checked with a hand-written client.
    @Test func rawClientGetsTheResponseWithTheRequestID() async throws {
        let node = TestNode.make(
            id: 2, peers: [1: PeerAddress(host: loopback, port: 1), 3: PeerAddress(host: loopback, port: 1)])
        try await node.start()
        let client = try await RawClient(port: node.port)
        try await client.send(
            Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 777, body: voteRequest(term: 5, from: 1)))
        #expect(try await eventually { client.frameCount == 1 })
        let reply = try #require(try client.envelopes.first)
        #expect(reply.id == 777)
        #expect(reply.clusterID == clusterID)
        #expect(reply.fromID == 2 && reply.toID == 1)
        #expect(reply.body == .requestVoteResponse(RequestVoteResponse(term: 5, voteGranted: true)))
        #expect(!client.isClosed)
        await client.close()
        await node.stop()
    }

    /// Many requests in flight on one inbound connection, of mixed kinds: every response carries
    /// the id of the request it answers.
    @Test func pipelinedRequestsOnOneConnectionArePairedByID() async throws {
        let node = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await node.start()
        let client = try await RawClient(port: node.port)
        var expected: [UInt64: String] = [:]
        var bytes: [UInt8] = []
        for i in 0..<120 {
            let body: RaftMessage =
                switch i % 3 {
                case 0: voteRequest(from: 1)
                case 1: appendRequest(from: 1, prevLogIndex: UInt64(i), payload: [UInt8(i)])
                default: snapshotRequest(from: 1, offset: UInt64(i))
                }
            let id = UInt64(10_000 + i * 7)
            expected[id] = tag(body)
            bytes += try Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: id, body: body).framed()
        }
        try await client.send(bytes: bytes)  // all at once: pipelined
        #expect(try await eventually { client.frameCount == 120 })
        let replies = try client.envelopes
        #expect(replies.count == 120)
        for reply in replies {
            let body = try #require(reply.body)
            #expect(!body.isRequest)
            #expect(expected[reply.id] == tag(body), "response \(reply.id)")
        }
        #expect(Set(replies.map(\.id)) == Set(expected.keys))
        await client.close()
        await node.stop()
    }

    /// Responses on an outbound connection may come back in any order (proto/raft.proto): the
    /// transport pairs them by id.
    @Test func outOfOrderResponsesArePairedByID() async throws {
        let peer = try await RawServer(mode: .reading)
        // Pairing is the subject here, not timeouts: a loaded machine may take seconds to reply.
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: peer.port)]) {
            $0.requestTimeout = .seconds(120)
        }
        try await node.start()
        for i in 0..<60 {
            node.send(i % 2 == 0 ? voteRequest(from: 1) : appendRequest(from: 1, prevLogIndex: UInt64(i)), to: 2)
        }
        #expect(try await eventually { peer.frameCount == 60 })
        let requests = try peer.envelopes
        #expect(Set(requests.map(\.id)).count == 60, "fresh ids")
        #expect(requests.map(\.id) == requests.map(\.id).sorted(), "increasing on the connection")
        for request in requests.reversed() {
            let body = try #require(request.body.flatMap(response(to:)))
            try await peer.reply(Envelope(clusterID: clusterID, fromID: 2, toID: 1, id: request.id, body: body))
        }
        #expect(try await eventually { node.messages(from: 2).count == 60 })
        let stats = node.stats
        #expect(stats.rpcCompletions[.requestVote] == 30)
        #expect(stats.rpcCompletions[.appendEntries] == 30)
        #expect(stats.rejections.isEmpty && stats.rpcFailures.isEmpty)
        let delivered = node.messages(from: 2).map { tag($0.body) }
        #expect(delivered == requests.reversed().map { tag($0.body!) })
        await node.stop()
        await peer.close()
    }

    /// A response of another kind than the request with its id is a protocol error.
    @Test func mismatchedResponseClosesTheConnection() async throws {
        let (node, peer, request) = try await nodeWithVoteRequestAtRawPeer()
        try await peer.reply(
            Envelope(
                clusterID: clusterID, fromID: 2, toID: 1, id: request.id,
                body: .appendEntriesResponse(AppendEntriesResponse(term: 1, success: true))))
        #expect(try await eventually { node.stats.rejections("mismatched_response") == 1 })
        #expect(try await eventually { node.stats.disconnects[2] == 1 })
        #expect(node.stats.rpcFailures(peer: 2, reason: .connectionLost) == 1)
        #expect(node.messages(from: 2).isEmpty)
        await node.stop()
        await peer.close()
    }

    /// The node skipped a response (the core ignores some RequestVotes): its next response of
    /// another kind still finds its own request, and the skip is counted.
    @Test func skippedResponseResynchronizes() async throws {
        let node = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await node.start(autoRespond: false)
        let client = try await RawClient(port: node.port)
        try await client.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 1, body: voteRequest(from: 1)))
        try await client.send(
            Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 2, body: appendRequest(from: 1, prevLogIndex: 4)))
        #expect(try await eventually { node.messages(from: 1).count == 2 })
        let answer = try #require(response(to: appendRequest(from: 1, prevLogIndex: 4)))
        node.send(answer, to: 1)
        #expect(try await eventually { client.frameCount == 1 })
        #expect(try client.envelopes.first?.id == 2)
        #expect(node.stats.resynchronizations == 1)
        // Nothing is pending any more: a further response is dropped and counted.
        node.send(answer, to: 1)
        #expect(node.stats.drops(peer: 1, reason: .noPendingRequest) == 1)
        await client.close()
        await node.stop()
    }

    /// A forwarded read is answered after a heartbeat round, while the node answers the same
    /// peer's other requests at once: those answers do not skip it, and the read answers keep
    /// their own order and ids.
    @Test func forwardedReadsWaitInTheirOwnLaneAndKeepTheirIDs() async throws {
        let node = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await node.start(autoRespond: false)
        let client = try await RawClient(port: node.port)
        let read = { (context: UInt64) in RaftMessage.readIndex(ReadIndexRequest(term: 1, context: context)) }
        try await client.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 1, body: read(1)))
        try await client.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 2, body: voteRequest(from: 1)))
        try await client.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 3, body: read(2)))
        #expect(try await eventually { node.messages(from: 1).count == 3 })
        node.send(response(to: voteRequest(from: 1))!, to: 1)
        for context in UInt64(1)...2 {
            node.send(.readIndexResponse(ReadIndexResponse(term: 1, context: context, success: true, readIndex: 9)), to: 1)
        }
        #expect(try await eventually { client.frameCount == 3 })
        #expect(try client.envelopes.map { [$0.id: tag($0.body!)] } == [[2: "vote"], [1: "read 1"], [3: "read 2"]])
        #expect(node.stats.resynchronizations == 0)
        await client.close()
        await node.stop()
    }

    /// A request the node never answers is forgotten after `pendingResponseLifetime`, so a later
    /// response of the same kind gets its own request's id.
    @Test func unansweredRequestIsForgottenAfterItsLifetime() async throws {
        // Long enough that the second request cannot also expire before the test answers it,
        // even when a loaded machine holds the test up for a moment (it did on CI at 100 ms).
        let lifetime = TimeAmount.seconds(1)
        let node = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)]) {
            $0.pendingResponseLifetime = lifetime
        }
        try await node.start(autoRespond: false)
        let client = try await RawClient(port: node.port)
        try await client.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 1, body: voteRequest(from: 1)))
        #expect(try await eventually { node.messages(from: 1).count == 1 })
        // The router stamped the request (on NIO's clock) before handing it to the node, so it is
        // past its lifetime once the lifetime has passed from now. The router forgets lazily, at
        // its next delivery or response: the time itself is the condition to wait for.
        let expired = NIODeadline.now() + lifetime
        #expect(try await eventually { NIODeadline.now() > expired })
        try await client.send(
            Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 2, body: voteRequest(term: 2, from: 1)))
        #expect(try await eventually { node.messages(from: 1).count == 2 })
        // Forgotten for its age when the next request was delivered, before any response (the
        // count follows the delivery, just after it).
        #expect(try await eventually { node.stats.resynchronizations == 1 })
        node.send(response(to: voteRequest(term: 2, from: 1))!, to: 1)
        #expect(try await eventually { client.frameCount == 1 })
        #expect(try client.envelopes.first?.id == 2)
        #expect(node.stats.resynchronizations == 1)
        await client.close()
        await node.stop()
    }

    /// A request that would exceed the maximum frame length is not sent (the peer would close
    /// the connection on it); later requests still go out.
    @Test func oversizedRequestIsDroppedNotSent() async throws {
        let peer = try await RawServer(mode: .reading)
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: peer.port)]) {
            $0.maximumFrameLength = 1024
        }
        try await node.start()
        node.send(appendRequest(from: 1, prevLogIndex: 1, payload: [UInt8](repeating: 1, count: 2000)), to: 2)
        node.send(appendRequest(from: 1, prevLogIndex: 2, payload: [1, 2, 3]), to: 2)
        #expect(try await eventually { peer.frameCount == 1 })
        #expect(node.stats.drops(peer: 2, reason: .tooLarge) == 1)
        #expect(try peer.envelopes.first.map { tag($0.body!) } == "append 2")
        await node.stop()
        await peer.close()
    }

    /// When the node loop leaves `inbound` full, new messages are dropped and counted, and the
    /// dropped requests expect no response: the responses to the delivered ones keep their ids.
    @Test func fullInboundBufferDropsAndKeepsPairing() async throws {
        var configuration = PeerTransportConfiguration(
            selfID: 2, clusterID: clusterID, listenAddress: PeerAddress(host: loopback, port: 0),
            peers: [1: PeerAddress(host: loopback, port: 1)])
        configuration.inboundBufferCapacity = 4
        let counters = TransportCounters()
        let transport = PeerTransport(
            configuration: configuration, group: group, logger: quietLogger, observer: counters)
        let port = try await transport.start()
        let client = try await RawClient(port: port)
        for id in UInt64(1)...10 {
            try await client.send(
                Envelope(
                    clusterID: clusterID, fromID: 1, toID: 2, id: id, body: appendRequest(from: 1, prevLogIndex: id)))
        }
        #expect(try await eventually { counters.snapshot().drops(peer: 1, reason: .inboundBufferFull) == 6 })
        var delivered: [Message] = []
        for await message in transport.inbound {
            delivered.append(message)
            transport.send(Message(from: 2, to: 1, body: response(to: message.body)!))
            if delivered.count == 4 { break }
        }
        #expect(delivered.map { tag($0.body) } == (1...4).map { "append \($0)" })
        #expect(try await eventually { client.frameCount == 4 })
        #expect(try client.envelopes.map(\.id) == [1, 2, 3, 4])
        #expect(try client.envelopes.map { tag($0.body!) } == (1...4).map { "append \($0)" })
        await client.close()
        await transport.shutdown()
    }

    /// A response whose request's connection has closed is dropped and counted.
    @Test func responseForAClosedConnectionIsDropped() async throws {
        let node = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await node.start(autoRespond: false)
        let client = try await RawClient(port: node.port)
        try await client.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 5, body: voteRequest(from: 1)))
        #expect(try await eventually { node.messages(from: 1).count == 1 })
        #expect(!client.isClosed)
        // The client ends its stream (half-close); the node's side closes once it reads the end,
        // which the client sees as its connection closing. A response sent before that would
        // still be written (to a socket nobody reads), not dropped.
        try await client.channel.close(mode: .output)
        #expect(try await eventually { client.isClosed }, "the node closed its side of the connection")
        node.send(response(to: voteRequest(from: 1))!, to: 1)
        #expect(try await eventually { node.stats.drops(peer: 1, reason: .connectionClosed) == 1 })
        await client.close()
        await node.stop()
    }

    @Test func messagesToNonMembersAreDropped() async throws {
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: 1)])
        node.send(voteRequest(from: 1), to: 9)
        node.send(voteRequest(from: 1), to: 1)
        #expect(node.stats.drops(reason: .unknownPeer) == 2)
        await node.stop()
    }
}

extension Envelope {
    /// One frame: 4-byte big-endian length, then the envelope.
    func framed() throws -> [UInt8] {
        let payload = try serializedBytes()
        let length = UInt32(payload.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            + payload
    }
}
