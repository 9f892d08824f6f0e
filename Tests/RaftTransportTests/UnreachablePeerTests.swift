import NIOCore
import RaftCore
import RaftMessages
import RaftTransport
import Testing

/// A slow or dead peer never stalls the node or the other peers (issue 5): `send` returns at
/// once, the peer's bounded queue drops and counts, and traffic resumes when the peer is back.
@Suite("Dead, slow and silent peers", .serialized)
struct UnreachablePeerTests {
    @Test func deadPeerDropsWithoutBlockingAndIsReachedOnceItComesUp() async throws {
        let deadPort = try await unusedPort()
        let healthy = TestNode.make(id: 3, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await healthy.start()
        let node = TestNode.make(
            id: 1,
            peers: [2: PeerAddress(host: loopback, port: deadPort), 3: healthy.address]
        ) {
            $0.queueLimits = QueueLimits(maximumMessages: 8)
            $0.connectTimeout = .milliseconds(500)
        }
        try await node.start()

        // 500 sends to the dead peer: none blocks, all but the queue's worth are dropped.
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for i in 0..<500 { node.send(appendRequest(from: 1, prevLogIndex: UInt64(i)), to: 2) }
        }
        #expect(elapsed < .seconds(2), "send never waits: \(elapsed)")
        #expect(try await eventually { node.stats.drops(peer: 2, reason: .queueFull) >= 500 - 8 })
        #expect(try await eventually { node.stats.connectFailures[2, default: 0] >= 2 }, "retried")
        // Counted just after the failure that schedules it, on the connection's loop.
        #expect(try await eventually { node.stats.reconnectsScheduled[2, default: 0] >= 2 })
        #expect(node.stats.rpcFailures(peer: 2, reason: .notSent) >= 500 - 8)

        // The other peer is unaffected.
        node.send(voteRequest(from: 1), to: 3)
        #expect(try await eventually { node.messages(from: 3).count == 1 })
        #expect(node.stats.rpcCompletions[.requestVote] == 1)

        // The dead peer comes up on its port: the transport reconnects (with backoff) and the
        // next requests get through and are answered.
        let revived = TestNode.make(id: 2, port: deadPort, peers: [1: node.address])
        try await revived.start()
        let through = try await eventually(timeout: .seconds(10)) {
            node.send(voteRequest(term: 2, from: 1), to: 2)
            return node.messages(from: 2).contains { !$0.body.isRequest }
        }
        #expect(through, "traffic flows once the peer is up")
        #expect(node.stats.connects[2, default: 0] >= 1)
        #expect(try await eventually { revived.messages(from: 1).count >= 1 })

        await node.stop()
        await revived.stop()
        await healthy.stop()
    }

    /// A peer that goes away and comes back on the same address is reconnected to; requests in
    /// flight when it went count as failed.
    @Test func restartedPeerIsReconnected() async throws {
        let port = try await unusedPort()
        let first = TestNode.make(id: 2, port: port, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await first.start()
        let node = TestNode.make(id: 1, peers: [2: first.address])
        try await node.start()
        node.send(voteRequest(from: 1), to: 2)
        #expect(try await eventually { node.messages(from: 2).count == 1 })

        await first.stop()
        #expect(try await eventually { node.stats.disconnects[2] == 1 })
        node.send(voteRequest(term: 2, from: 1), to: 2)
        #expect(try await eventually { node.stats.connectFailures[2, default: 0] >= 1 }, "refused while down")

        let second = TestNode.make(id: 2, port: port, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await second.start()
        let through = try await eventually(timeout: .seconds(10)) {
            node.send(voteRequest(term: 3, from: 1), to: 2)
            return !second.messages(from: 1).isEmpty && node.messages(from: 2).count >= 2
        }
        #expect(through)
        #expect(node.stats.connects[2, default: 0] >= 2)
        #expect(node.stats.reconnectsScheduled[2, default: 0] >= 1)

        await node.stop()
        await second.stop()
    }

    /// A peer that accepts connections and drops them before answering is retried with backoff,
    /// not hammered in a connect loop.
    @Test func peerThatDropsEveryConnectionIsRetriedWithBackoff() async throws {
        let dropper = try await RawServer(mode: .closingAtOnce)
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: dropper.port)]) {
            $0.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(160), jitter: 0)
        }
        try await node.start()
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < .milliseconds(600) {
            node.send(voteRequest(from: 1), to: 2)
            try await Task.sleep(for: .milliseconds(5))
        }
        // Delays 20, 40, 80, 160, 160, ... ms: at most about 7 connections in 600 ms.
        let accepted = dropper.frameCount
        #expect(accepted >= 2 && accepted <= 9, "accepted \(accepted) connections")
        #expect(try await eventually { node.stats.reconnectsScheduled[2, default: 0] >= 2 })
        await node.stop()
        await dropper.close()
    }

    @Test func slowPeerThatNeverReadsDoesNotStallOthers() async throws {
        let slow = try await RawServer(mode: .neverReading)
        let healthy = TestNode.make(id: 3, peers: [1: PeerAddress(host: loopback, port: 1)])
        try await healthy.start()
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: slow.port), 3: healthy.address]) {
            $0.queueLimits = QueueLimits(maximumMessages: 16)
            $0.writeBufferWaterMark = .init(low: 32 * 1024, high: 64 * 1024)
            $0.requestTimeout = .seconds(30)
            $0.maximumQueueDelay = .seconds(30)
        }
        try await node.start()

        // 64 KiB AppendEntries until far more than the socket buffers hold (64 MiB) is offered.
        let payload = [UInt8](repeating: 0xAB, count: 64 * 1024)
        let clock = ContinuousClock()
        var longest = Duration.zero
        for i in 0..<1024 {
            let elapsed = clock.measure {
                node.send(appendRequest(from: 1, prevLogIndex: UInt64(i), payload: payload), to: 2)
            }
            longest = max(longest, elapsed)
            if i % 64 == 63 { try await Task.sleep(for: .milliseconds(5)) }  // let the loop write
        }
        #expect(longest < .milliseconds(500), "one send took \(longest)")
        #expect(try await eventually { node.stats.drops(peer: 2, reason: .queueFull) > 0 }, "slow peer's queue drops")
        let sentToSlow = node.stats.bytesSent[2, default: 0]
        #expect(sentToSlow < 1024 * 64 * 1024, "not everything was written: \(sentToSlow)")

        // Meanwhile the healthy peer is served (a burst within its own queue bound of 16).
        for i in 0..<12 { node.send(appendRequest(from: 1, prevLogIndex: UInt64(i)), to: 3) }
        #expect(try await eventually { node.messages(from: 3).count == 12 })
        #expect(node.stats.rpcFailures(peer: 3, reason: .notSent) == 0)

        await node.stop()
        await healthy.stop()
        await slow.close()
    }

    @Test func requestsToASilentPeerTimeOut() async throws {
        let silent = try await RawServer(mode: .reading)
        let node = TestNode.make(id: 1, peers: [2: PeerAddress(host: loopback, port: silent.port)]) {
            $0.requestTimeout = .milliseconds(200)
        }
        try await node.start()
        node.send(voteRequest(from: 1), to: 2)
        node.send(appendRequest(from: 1, prevLogIndex: 1), to: 2)
        node.send(appendRequest(from: 1, prevLogIndex: 2), to: 2)
        #expect(try await eventually { silent.frameCount == 3 })
        #expect(try await eventually { node.stats.rpcFailures(peer: 2, reason: .timeout) == 3 })
        let failures = node.stats.rpcFailures
        #expect(failures[.init(rpc: .requestVote, peer: 2, reason: .timeout)] == 1)
        #expect(failures[.init(rpc: .appendEntries, peer: 2, reason: .timeout)] == 2)
        #expect(node.stats.rpcCompletions.isEmpty)
        #expect(node.stats.disconnects[2] == nil, "a timeout does not close the connection")

        // A late answer is still delivered (a valid Raft message) without counting a completion.
        let request = try #require(try silent.envelopes.first)
        try await silent.reply(
            Envelope(
                clusterID: clusterID, fromID: 2, toID: 1, id: request.id,
                body: .requestVoteResponse(RequestVoteResponse(term: 1, voteGranted: false))))
        #expect(try await eventually { node.messages(from: 2).count == 1 })
        #expect(node.stats.rpcCompletions.isEmpty)

        await node.stop()
        await silent.close()
    }
}
