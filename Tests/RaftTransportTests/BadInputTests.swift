import NIOCore
import RaftCore
import RaftMessages
import RaftTransport
import RaftWire
import Testing

/// Bad input on the peer port (DESIGN §2, issue 5 "Bad input"): the offending connection is
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
                return try Envelope(clusterID: clusterID, fromID: 99, toID: 2, id: 1, body: voteRequest(from: 99))
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
