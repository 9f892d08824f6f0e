import NIOConcurrencyHelpers
import NIOCore
import RaftCore
import RaftMessages
import RaftTransport
import RaftWire
import Testing

/// Bad input on the peer port (proto/raft.proto, framing and `Envelope`): the offending connection is
/// closed, a counter goes up, and the node keeps serving everyone else.
@Suite("Bad input on the peer port")
struct BadInputTests {
    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case garbage, zeroLength, tooLarge, truncated, malformedEnvelope, noBody, foreignCluster, unknownSender,
            wrongDestination, responseOnInbound

        var testDescription: String { rawValue }

        /// The rejection counter that must go up.
        var label: String {
            switch self {
            case .garbage, .tooLarge: "oversized_frame"
            case .zeroLength: "zero_length_frame"
            case .truncated: "truncated_frame"
            case .malformedEnvelope: "malformed_envelope"
            case .noBody: "missing_body"
            case .foreignCluster: "foreign_cluster"
            case .unknownSender: "unknown_peer"
            case .wrongDestination: "wrong_destination"
            case .responseOnInbound: "unexpected_response"
            }
        }

        /// Bytes sent by the bad client to node 2 (maximum frame 1 MiB, members 1 and 3).
        func bytes() throws -> [UInt8] {
            switch self {
            case .garbage:
                // Text where a length should be: "GET " is a length of about 1.2 GB.
                return Array("GET /metrics HTTP/1.1\r\nHost: raft\r\n\r\n".utf8)
            case .zeroLength:
                return [0, 0, 0, 0]
            case .tooLarge:
                return [0, 0x20, 0, 0] + [UInt8](repeating: 7, count: 64)  // 2 MiB announced
            case .truncated:
                return [0, 0, 0, 100] + [UInt8](repeating: 7, count: 10)  // then the client closes
            case .malformedEnvelope:
                return [0, 0, 0, 3, 0xFF, 0xFF, 0xFF]  // an unterminated varint tag
            case .noBody:
                return try Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 1, body: nil).framed()
            case .foreignCluster:
                return try Envelope(clusterID: "other-cluster", fromID: 1, toID: 2, id: 1, body: voteRequest(from: 1))
                    .framed()
            case .unknownSender:
                // Id 0 is no member's (ids the configuration does not know yet are heard: see
                // MembershipRefusalTests).
                return try Envelope(clusterID: clusterID, fromID: 0, toID: 2, id: 1, body: voteRequest(from: 0))
                    .framed()
            case .wrongDestination:
                return try Envelope(clusterID: clusterID, fromID: 1, toID: 3, id: 1, body: voteRequest(from: 1))
                    .framed()
            case .responseOnInbound:
                return try Envelope(
                    clusterID: clusterID, fromID: 1, toID: 2, id: 1,
                    body: .requestVoteResponse(RequestVoteResponse(term: 1, voteGranted: true))
                ).framed()
            }
        }
    }

    @Test(arguments: BadInput.allCases)
    func badInputClosesOnlyTheOffendingConnection(_ input: BadInput) async throws {
        let node = TestNode.make(
            id: 2, peers: [1: PeerAddress(host: loopback, port: 1), 3: PeerAddress(host: loopback, port: 1)]
        ) { $0.maximumFrameLength = 1024 * 1024 }
        try await node.start()

        // A well-behaved peer connected before, and still connected after.
        let good = try await RawClient(port: node.port)
        try await good.send(Envelope(clusterID: clusterID, fromID: 3, toID: 2, id: 1, body: voteRequest(from: 3)))
        #expect(try await eventually { good.frameCount == 1 })

        let bad = try await RawClient(port: node.port)
        try await bad.send(bytes: try input.bytes())
        if input == .truncated { await bad.close() }  // the connection ends inside the frame
        #expect(try await eventually { node.stats.rejections(input.label) == 1 }, "counted as \(input.label)")
        #expect(try await eventually { bad.isClosed }, "bad connection closed")
        #expect(node.stats.rejections.values.reduce(0, +) == 1, "counted once: \(node.stats.rejections)")
        #expect(node.messages(from: 1).isEmpty, "nothing delivered from the bad connection")

        // The node keeps serving: the old connection and a new one.
        try await good.send(Envelope(clusterID: clusterID, fromID: 3, toID: 2, id: 2, body: voteRequest(from: 3)))
        let fresh = try await RawClient(port: node.port)
        try await fresh.send(Envelope(clusterID: clusterID, fromID: 1, toID: 2, id: 42, body: voteRequest(from: 1)))
        #expect(try await eventually { good.frameCount == 2 && fresh.frameCount == 1 })
        #expect(try fresh.envelopes.first?.id == 42)
        #expect(try good.envelopes.map(\.id) == [1, 2])
        #expect(!good.isClosed && !fresh.isClosed)

        await good.close()
        await fresh.close()
        await node.stop()
    }

    /// A peer that answers with a request on our outbound connection breaks the protocol.
    @Test func requestOnAnOutboundConnectionIsRejected() async throws {
        let (node, peer, _) = try await nodeWithVoteRequestAtRawPeer()
        try await peer.reply(Envelope(clusterID: clusterID, fromID: 2, toID: 1, id: 1, body: voteRequest(from: 2)))
        #expect(try await eventually { node.stats.rejections("unexpected_request") == 1 })
        #expect(try await eventually { node.stats.disconnects[2] == 1 })
        #expect(node.messages(from: 2).isEmpty)
        await node.stop()
        await peer.close()
    }

    /// A response from another cluster on an outbound connection is rejected too.
    @Test func foreignResponseOnAnOutboundConnectionIsRejected() async throws {
        let (node, peer, request) = try await nodeWithVoteRequestAtRawPeer()
        try await peer.reply(
            Envelope(
                clusterID: "other", fromID: 2, toID: 1, id: request.id,
                body: .requestVoteResponse(RequestVoteResponse(term: 1, voteGranted: true))))
        #expect(try await eventually { node.stats.rejections("foreign_cluster") == 1 })
        #expect(try await eventually { node.stats.disconnects[2] == 1 })
        #expect(node.messages(from: 2).isEmpty)
        await node.stop()
        await peer.close()
    }
}

/// Members the configuration does not accept are refused before their envelopes reach the node:
/// removed ids (their messages could raise terms), and a member on a data directory other than
/// the one its id was recorded with (it lost its votes). They are told why (`MemberRefused`) and
/// their connection is closed; envelopes from ids not known yet are heard.
@Suite("Refused members on the peer port")
struct MembershipRefusalTests {
    func node(view: MembershipView) async throws -> TestNode {
        let node = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await node.start()
        node.transport.updateMembership(peers: [1: PeerAddress(host: loopback, port: 1)], view: view)
        return node
    }

    /// Sends a vote request from `from` with `incarnation`; returns what came back.
    func ask(_ node: TestNode, from: UInt64, incarnation: UInt64) async throws -> (envelopes: [Envelope], closed: Bool) {
        let client = try await RawClient(port: node.port)
        try await client.send(
            Envelope(clusterID: clusterID, fromID: from, toID: 2, id: 7, fromIncarnation: incarnation, body: voteRequest(from: from)))
        _ = try await eventually { client.frameCount >= 1 }
        _ = try await eventually { client.isClosed }
        let result = (try client.envelopes, client.isClosed)
        await client.close()
        return result
    }

    @Test func aRemovedMemberIsToldItWasRemovedAndNotHeard() async throws {
        let node = try await node(view: MembershipView(removed: [4]))
        let (envelopes, closed) = try await ask(node, from: 4, incarnation: 11)
        guard case .memberRefused(let refusal)? = envelopes.first?.body else {
            Issue.record("expected MemberRefused, got \(envelopes)")
            return
        }
        #expect(refusal.removed)
        #expect(envelopes.first?.id == 7, "as the answer to its request")
        #expect(closed)
        #expect(node.messages(from: 4).isEmpty)
        #expect(node.stats.rejections("removed_member") == 1)
        await node.stop()
    }

    @Test func aMemberOnAnotherDataDirectoryIsRefused() async throws {
        let node = try await node(view: MembershipView(incarnations: [3: 1111]))
        let (envelopes, closed) = try await ask(node, from: 3, incarnation: 2222)
        guard case .memberRefused(let refusal)? = envelopes.first?.body else {
            Issue.record("expected MemberRefused, got \(envelopes)")
            return
        }
        #expect(!refusal.removed)
        #expect(refusal.expectedIncarnation == 1111)
        #expect(refusal.reason.contains("replace it with a new member"))
        #expect(closed)
        #expect(node.messages(from: 3).isEmpty)
        #expect(node.stats.rejections("other_incarnation") == 1)
        await node.stop()
    }

    @Test func theRecordedIncarnationAndIdsNotKnownYetAreHeard() async throws {
        let node = try await node(view: MembershipView(removed: [4], incarnations: [3: 1111]))
        for (from, incarnation): (UInt64, UInt64) in [(3, 1111), (9, 5)] {
            let client = try await RawClient(port: node.port)
            try await client.send(
                Envelope(
                    clusterID: clusterID, fromID: from, toID: 2, id: 1, fromIncarnation: incarnation,
                    body: voteRequest(from: from)))
            #expect(try await eventually { node.messages(from: from).count == 1 }, "from \(from)")
            #expect(!client.isClosed)
            await client.close()
        }
        await node.stop()
    }

    /// A node refused by a peer is told through `onRefused` (the node then stops).
    @Test func aRefusalNoticeReachesTheRefusedNode() async throws {
        let refusals = NIOLockedValueBox<[MemberRefused]>([])
        var configuration = PeerTransportConfiguration(
            selfID: 5, clusterID: clusterID, listenAddress: PeerAddress(host: loopback, port: 0), peers: [:])
        configuration.selfIncarnation = 77
        let refused = PeerTransport(
            configuration: configuration, group: group, logger: quietLogger,
            onRefused: { _, refusal in refusals.withLockedValue { $0.append(refusal) } })
        _ = try await refused.start()
        let peer = try await node(view: MembershipView(removed: [5]))
        refused.updateMembership(peers: [2: peer.address], view: MembershipView())
        refused.send(Message(from: 5, to: 2, body: voteRequest(from: 5)))
        #expect(try await eventually { refusals.withLockedValue { $0.count } == 1 })
        #expect(refusals.withLockedValue { $0.first?.removed } == true)
        await refused.shutdown()
        await peer.stop()
    }
}
