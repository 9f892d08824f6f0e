@testable import RaftCore
import RaftMessages
import Testing

/// Thesis §6.4 "Processing read-only queries more efficiently" (ReadIndex): a leader answers a
/// read from its state machine, without a log entry, once (1) it has committed an entry of its
/// term, (2) it has recorded its commit index, (3) a majority confirmed it is still leader by
/// answering a fresh round of heartbeats, (4) it has applied through that index.
@Suite struct ReadIndexTests {
    /// A three-member cluster whose leader (1) has committed an entry of its term.
    private func clusterWithCommittedEntry() throws -> TestNetwork {
        let net = TestNetwork(3)
        net.elect(1)
        try net[1].node.propose([1])
        net.deliver()
        #expect(net[1].raft.log.committed == 1)
        return net
    }

    /// Steps 2–3: the read is confirmed by the leader plus one follower of three.
    @Test func readIsConfirmedOnceAMajorityAnswersAFreshHeartbeatRound() throws {
        let net = try clusterWithCommittedEntry()
        let leader = net[1]
        try leader.node.readIndex(7)
        let ready = leader.node.ready()
        #expect(ready.readStates.isEmpty)
        let heartbeats = ready.messages.compactMap(\.appendEntries)
        #expect(heartbeats.count == 2)
        #expect(heartbeats.allSatisfy { $0.readRound == 1 && $0.entries.isEmpty })
        leader.node.advance(ready)

        let toTwo = try #require(ready.messages.first { $0.to == 2 })
        net[2].step(toTwo)
        let answer = try #require(net[2].drain().first)
        #expect(answer.appendEntriesResponse?.readRound == 1)
        leader.step(answer)
        #expect(leader.node.ready().readStates == [ReadState(requestID: 7, index: 1)])
        #expect(!leader.node.hasPendingReads)
    }

    /// Step 1: until an entry of its own term commits, the leader does not know the latest
    /// commit index, so the read waits (no heartbeat round yet), then proceeds.
    @Test func readWaitsForTheLeadersFirstCommitInItsTerm() throws {
        let net = TestNetwork(3)
        net.elect(1)
        let leader = net[1]
        #expect(leader.raft.log.committed == 0)
        try leader.node.readIndex(3)
        #expect(!leader.node.hasReady)
        #expect(leader.node.hasPendingReads)
        try leader.node.propose([1])
        var confirmed: [ReadState] = []
        net.drop = { _ in false }
        // Deliver by hand to collect the leader's read states along the way.
        var inFlight = leader.drain()
        for _ in 0..<10 where !inFlight.isEmpty {
            var next: [Message] = []
            for message in inFlight {
                net[message.to].step(message)
                if message.to == 1 {
                    while leader.node.hasReady {
                        let ready = leader.node.ready()
                        confirmed += ready.readStates
                        try leader.storage.append(ready.entries)
                        if let hs = ready.hardState { leader.storage.setHardState(hs) }
                        next += ready.messages + ready.messagesAfterPersist
                        leader.node.advance(ready)
                    }
                } else {
                    next += net[message.to].drain()
                }
            }
            inFlight = next
        }
        #expect(confirmed == [ReadState(requestID: 3, index: 1)])
    }

    /// A leader cut off from the majority never confirms a read, even though it still
    /// believes it leads; a newer leader may meanwhile have committed writes it has not seen.
    @Test func partitionedLeaderNeverConfirmsAReadAndDropsItOnStepDown() throws {
        let net = try clusterWithCommittedEntry()
        let leader = net[1]
        net.drop = { $0.from == 1 || $0.to == 1 }
        try leader.node.readIndex(11)
        var states: [ReadState] = []
        for _ in 0..<(3 * leader.raft.config.electionTick) {
            leader.tick()
            while leader.node.hasReady {
                let ready = leader.node.ready()
                states += ready.readStates
                leader.node.advance(ready)
            }
        }
        #expect(states.isEmpty)
        // Meanwhile 2 and 3 elect a new leader; when 1 hears of the new term it drops the read.
        net.elect(2)
        net.drop = { _ in false }
        net[2].tick(net[2].raft.config.heartbeatTick)
        net.deliver()
        #expect(leader.raft.role == .follower)
        #expect(!leader.node.hasPendingReads)
    }

    /// Rounds are ordered and one is in flight at a time: a read that arrives while a round is
    /// out waits for the next round, which starts once the first is confirmed; an answer to the
    /// first round (sent before the read arrived) does not confirm it.
    @Test func aReadArrivingDuringARoundWaitsForTheNextRound() throws {
        let net = try clusterWithCommittedEntry()
        let leader = net[1]
        try leader.node.readIndex(1)
        let first = leader.node.ready()
        leader.node.advance(first)
        #expect(first.messages.compactMap(\.appendEntries).allSatisfy { $0.readRound == 1 })
        try leader.node.readIndex(2)
        #expect(!leader.node.hasReady, "round 1 is in flight: no second round yet")

        // Round 1 reaches follower 2 and comes back: read 1 is confirmed, read 2 is not, and
        // round 2 goes out.
        let roundOne = try #require(first.messages.first { $0.to == 2 })
        net[2].step(roundOne)
        for answer in net[2].drain() { leader.step(answer) }
        let second = leader.node.ready()
        leader.node.advance(second)
        #expect(second.readStates.map(\.requestID) == [1])
        #expect(second.messages.compactMap(\.appendEntries).count == 2)
        #expect(second.messages.compactMap(\.appendEntries).allSatisfy { $0.readRound == 2 })

        let roundTwo = try #require(second.messages.first { $0.to == 3 })
        net[3].step(roundTwo)
        for answer in net[3].drain() { leader.step(answer) }
        #expect(leader.node.ready().readStates.map(\.requestID) == [2])
    }

    /// A round whose answers are all lost does not hold reads forever: the next heartbeats
    /// carry it, and their answers confirm it.
    @Test func aRoundWhoseAnswersWereLostIsConfirmedByTheNextHeartbeats() throws {
        let net = try clusterWithCommittedEntry()
        let leader = net[1]
        try leader.node.readIndex(1)
        _ = leader.drain()  // round 1 is lost
        try leader.node.readIndex(2)
        leader.tick(leader.raft.config.heartbeatTick)
        net.deliver()
        net.deliver()
        #expect(leader.readStates.map(\.requestID) == [1, 2])
    }

    /// Reads that arrive before the same `ready()` share one heartbeat round.
    @Test func readsArrivingTogetherShareOneRound() throws {
        let net = try clusterWithCommittedEntry()
        let leader = net[1]
        for id in 1...5 as ClosedRange<UInt64> { try leader.node.readIndex(id) }
        let ready = leader.node.ready()
        #expect(ready.messages.count == 2)
        leader.node.advance(ready)
        for message in ready.messages {
            net[message.to].step(message)
            for answer in net[message.to].drain() { leader.step(answer) }
        }
        #expect(leader.node.ready().readStates.map(\.requestID) == [1, 2, 3, 4, 5])
    }

    /// A single member is its own majority: the read is confirmed at once.
    @Test func singleMemberConfirmsAtOnce() throws {
        let n = TestNode(id: 1, voters: [1])
        n.node.campaign()
        n.drain()
        try n.node.propose([1])
        n.drain()
        try n.node.readIndex(4)
        #expect(n.node.ready().readStates == [ReadState(requestID: 4, index: 1)])
    }
}
