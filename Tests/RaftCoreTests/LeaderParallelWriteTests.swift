@testable import RaftCore
import RaftMessages
import Testing

/// Thesis §10.2.1: "the leader can write to its disk in parallel with replicating to the
/// followers" — provided its own copy counts toward a majority only once it is durable.
@Suite struct LeaderParallelWriteTests {
    /// The leader's AppendEntries are in `Ready.messages` (sendable before the write) in the
    /// same `Ready` that hands it the entries to persist.
    @Test func leaderRequestsLeaveWithTheEntriesTheyCarry() throws {
        let net = TestNetwork(3)
        net.elect(1)
        try net[1].node.propose([9])
        let ready = net[1].node.ready()
        #expect(ready.entries.map(\.data) == [[9]])
        #expect(ready.mustSync)
        #expect(Set(ready.messages.map(\.to)) == [2, 3])
        #expect(ready.messages.allSatisfy { $0.appendEntries?.entries.map(\.data) == [[9]] })
        #expect(ready.messagesAfterPersist.isEmpty)
    }

    /// Figure 2 "before responding to RPCs": answers and votes wait for the write.
    @Test func answersAndVoteRequestsWaitForTheWrite() throws {
        let follower = TestNode(id: 2, voters: [1, 2, 3])
        follower.step(Message(from: 1, to: 2, body: .appendEntries(AppendEntriesRequest(
            term: 1, leaderID: 1, prevLogIndex: 0, prevLogTerm: 0, entries: entries([1]), leaderCommit: 0))))
        var ready = follower.node.ready()
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist.first?.appendEntriesResponse?.matchIndex == 1)

        let candidate = TestNode(id: 3, voters: [1, 2, 3])
        candidate.node.campaign()
        ready = candidate.node.ready()
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist.compactMap(\.requestVote).count == 2)
        #expect(ready.hardState?.vote == 3)
    }

    /// The leader's unwritten entry does not count: with one follower's acknowledgement it is
    /// on one durable copy of three, so it must not commit until the leader's write completes.
    @Test func leaderOwnUnwrittenCopyDoesNotCountTowardMajority() throws {
        let net = TestNetwork(3)
        net.elect(1)
        let leader = net[1]
        let index = try leader.node.propose([5])
        let ready = leader.node.ready()
        // Follower 2 writes and acknowledges while the leader's write is still in flight.
        let toTwo = try #require(ready.messages.first { $0.to == 2 })
        net[2].step(toTwo)
        for answer in net[2].drain() { leader.step(answer) }
        #expect(leader.raft.log.committed < index)
        // The leader's write completes: now two durable copies of three.
        try leader.storage.append(ready.entries)
        leader.node.advance(ready)
        #expect(leader.raft.log.committed == index)
    }

    /// Two followers are a majority of three even if the leader's own write has not finished.
    @Test func twoFollowersCommitWithoutTheLeadersWrite() throws {
        let net = TestNetwork(3)
        net.elect(1)
        let leader = net[1]
        let index = try leader.node.propose([6])
        let ready = leader.node.ready()
        for message in ready.messages {
            net[message.to].step(message)
            for answer in net[message.to].drain() { leader.step(answer) }
        }
        #expect(leader.raft.log.committed == index)
    }

    /// A single-member cluster commits only what it has written.
    @Test func singleMemberCommitsAfterItsWrite() throws {
        let n = TestNode(id: 1, voters: [1])
        n.node.campaign()
        n.drain()
        let index = try n.node.propose([1])
        let ready = n.node.ready()
        #expect(ready.committedEntries.isEmpty)
        try n.storage.append(ready.entries)
        n.node.advance(ready)
        #expect(n.raft.log.committed == index)
        #expect(n.node.ready().committedEntries.last?.index == index)
    }
}
