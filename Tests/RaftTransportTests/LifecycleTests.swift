import NIOCore
import RaftCore
import RaftMessages
import RaftTransport
import Testing

@Suite("Lifecycle and concurrent use")
struct LifecycleTests {
    /// `shutdown` closes every connection, finishes `inbound`, and later sends are dropped.
    @Test func shutdownClosesConnectionsAndFinishesInbound() async throws {
        let peer = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await peer.start()
        let node = TestNode.make(id: 1, peers: [2: peer.address])
        try await node.start()
        node.send(voteRequest(from: 1), to: 2)
        #expect(try await eventually { node.messages(from: 2).count == 1 })
        let client = try await RawClient(port: node.port)

        await node.stop()  // returns once the node loop's `for await` has ended
        #expect(try await eventually { client.isClosed }, "accepted connections closed")
        node.send(voteRequest(from: 1), to: 2)
        #expect(node.stats.drops(peer: 2, reason: .shutdown) == 1)
        await #expect(throws: PeerTransportError.shutDown) { try await node.transport.start() }
        await node.transport.shutdown()  // idempotent
        await peer.stop()
    }

    @Test func startTwiceIsAnError() async throws {
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: 1)])
        try await node.start()
        await #expect(throws: PeerTransportError.alreadyStarted) { try await node.transport.start() }
        await node.stop()
    }

    /// `send` is safe from many tasks at once; every request within the bounds is answered.
    @Test func concurrentSendersAreAllServed() async throws {
        let peer2 = TestNode.make(id: 2, peers: [1: PeerAddress(host: loopback, port: 1)])
        let peer3 = TestNode.make(id: 3, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await peer2.start()
        try await peer3.start()
        let node = TestNode.make(id: 1, peers: [2: peer2.address, 3: peer3.address])
        try await node.start()
        await withTaskGroup(of: Void.self) { group in
            for sender in 0..<4 {
                group.addTask {
                    for i in 0..<100 {
                        let index = UInt64(sender * 1000 + i)
                        node.send(appendRequest(from: 1, prevLogIndex: index), to: i % 2 == 0 ? 2 : 3)
                        if i % 20 == 19 { try? await Task.sleep(for: .milliseconds(2)) }
                    }
                }
            }
        }
        #expect(try await eventually { node.messages(from: 2).count + node.messages(from: 3).count == 400 })
        #expect(node.stats.rpcCompletions[.appendEntries] == 400)
        #expect(Set(node.messages(from: 2).map { tag($0.body) }).count == 200)
        #expect(node.stats.drops.isEmpty)
        await node.stop()
        await peer2.stop()
        await peer3.stop()
    }
}
