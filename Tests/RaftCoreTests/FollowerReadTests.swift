@testable import RaftCore
import RaftMessages
import Testing

/// Linearizable reads on followers and learners (thesis §6.4 ReadIndex, forwarded to the
/// leader as etcd's `MsgReadIndex`): the leader confirms its leadership for the follower's
/// batch and answers with its commit index; the follower answers once it has applied that far.
@Suite struct FollowerReadTests {
    /// Three members; 1 leads and has committed an entry of its term (index 1).
    private func cluster() throws -> TestNetwork {
        let net = TestNetwork(3)
        net.elect(1)
        try net[1].node.propose([1])
        net.deliver()
        net[1].tick()
        net.deliver()
        #expect(net[1].raft.log.committed == 1)
        return net
    }

    @Test func aFollowerReadIsConfirmedByTheLeaderWithItsCommitIndex() throws {
        let net = try cluster()
        try net[2].node.readIndex(5)
        let sent = net[2].drain()
        let request = try #require(sent.first?.readIndex)
        #expect(sent.count == 1 && sent[0].to == 1 && request.term == net[1].raft.term)
        net.deliver(sent)
        #expect(net[2].readStates == [ReadState(requestID: 5, index: 1)])
        #expect(!net[2].node.hasPendingReads && !net[1].node.hasPendingReads)
    }

    /// The reads asked between two `Ready`s share one request, and the leader's heartbeat
    /// round confirms them all.
    @Test func followerReadsAskedTogetherTravelInOneRequest() throws {
        let net = try cluster()
        for id in UInt64(1)...4 { try net[3].node.readIndex(id) }
        let sent = net[3].drain()
        #expect(sent.compactMap(\.readIndex).count == 1)
        net.deliver(sent)
        #expect(net[3].readStates.map(\.requestID) == [1, 2, 3, 4])
    }

    /// One request in flight per follower: reads asked meanwhile go together in the next one,
    /// sent once the first is answered.
    @Test func readsAskedWhileARequestIsOutGoInTheNextRequest() throws {
        let net = try cluster()
        try net[2].node.readIndex(1)
        let first = net[2].drain()
        #expect(first.compactMap(\.readIndex).count == 1)
        try net[2].node.readIndex(2)
        try net[2].node.readIndex(3)
        #expect(net[2].drain().isEmpty)
        net.deliver(first)
        #expect(net[2].readStates.map(\.requestID) == [1, 2, 3])
        #expect(net.delivered.compactMap(\.readIndex).count == 2)
    }

    /// The read index comes from the leader, not from the follower's own log: a follower that
    /// has not received the latest committed write still gets an index that covers it, and so
    /// waits for it before answering. This is what makes the read linearizable.
    @Test func aLaggingFollowersReadIndexCoversEveryWriteCommittedBeforeTheRead() throws {
        let net = try cluster()
        // 3 misses the next writes; 1 and 2 commit them.
        net.drop = { $0.to == 3 && $0.appendEntries != nil }
        try net[1].node.propose([2])
        try net[1].node.propose([3])
        net.deliver()
        #expect(net[1].raft.log.committed == 3)
        #expect(net[3].raft.log.lastIndex == 1)
        try net[3].node.readIndex(9)
        net.deliver()
        #expect(net[3].readStates == [ReadState(requestID: 9, index: 3)])
        #expect(net[3].raft.log.applied < 3, "the driver must wait until it has applied index 3")
    }

    /// Step 3 holds for forwarded reads: the leader answers only after a majority answered a
    /// heartbeat round sent after the request arrived (a deposed leader that has not heard of
    /// its successor must never confirm).
    @Test func aForwardedReadIsConfirmedOnlyByAHeartbeatRoundAMajorityAnswers() throws {
        let net = try cluster()
        net.drop = { $0.from == 1 && $0.appendEntries != nil }
        try net[2].node.readIndex(3)
        net.deliver()
        for _ in 0..<3 {
            net[1].tick()
            net.deliver()
        }
        #expect(net[2].readStates.isEmpty && net[1].node.hasPendingReads)
        net.drop = { _ in false }
        net[1].tick()
        net.deliver()
        #expect(net[2].readStates == [ReadState(requestID: 3, index: 1)])
    }

    /// Step 1 holds for forwarded reads too: a new leader answers only once an entry of its
    /// term has committed.
    @Test func aForwardedReadWaitsForTheLeadersFirstCommitInItsTerm() throws {
        let net = TestNetwork(3)
        net.elect(1)
        #expect(net[1].raft.log.committed == 0)
        try net[2].node.readIndex(1)
        net.deliver()
        #expect(net[2].readStates.isEmpty && net[1].node.hasPendingReads)
        try net[1].node.propose([1])
        net.deliver()
        net[1].tick()
        net.deliver()
        #expect(net[2].readStates == [ReadState(requestID: 1, index: 1)])
    }

    @Test func aMemberThatKnowsNoLeaderRefusesTheRead() throws {
        let net = TestNetwork(3)
        #expect(throws: RaftError.notLeader(leaderID: 0)) { try net[2].node.readIndex(1) }
        net[2].timeOut()
        #expect(net[2].raft.role == .candidate)
        #expect(throws: RaftError.notLeader(leaderID: 0)) { try net[2].node.readIndex(1) }
    }

    /// A request that reaches a member no longer leading in its term (here: stepped down, as
    /// check-quorum makes a leader cut off from the majority do) is refused at once, and the
    /// follower gives its reads up (its driver answers them with a retriable error).
    @Test func aReadForwardedToAMemberThatNoLongerLeadsIsRefused() throws {
        let net = try cluster()
        try net[2].node.readIndex(4)
        let request = try #require(net[2].drain().first)
        net[1].raft.becomeFollower(term: net[1].raft.term, lead: 0)
        net[1].step(request)
        let answer = try #require(net[1].drain().first { $0.readIndexResponse != nil })
        #expect(answer.readIndexResponse?.success == false)
        #expect(answer.readIndexResponse?.term == net[2].raft.term)
        net[2].step(answer)
        net[2].drain()
        #expect(net[2].droppedReads == [4] && net[2].readStates.isEmpty)
        #expect(!net[2].node.hasPendingReads)
    }

    /// A leader that steps down before confirming refuses every forwarded read it holds, each
    /// once and in arrival order (the transport pairs answers with requests in that order).
    @Test func aLeaderThatStepsDownRefusesTheForwardedReadsItHasNotConfirmedInOrder() throws {
        let net = try cluster()
        let leader = net[1]
        let term = leader.raft.term
        let requests = [Message(from: 2, to: 1, body: .readIndex(ReadIndexRequest(term: term, context: 7))),
                        Message(from: 3, to: 1, body: .readIndex(ReadIndexRequest(term: term, context: 7))),
                        Message(from: 2, to: 1, body: .readIndex(ReadIndexRequest(term: term, context: 8)))]
        for request in requests { leader.step(request) }
        // The heartbeat round goes out but nobody answers; then a higher term arrives.
        _ = leader.drain()
        leader.step(Message(from: 3, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: leader.raft.term + 1, leaderID: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0))))
        let answers = leader.drain().filter { $0.readIndexResponse != nil }
        #expect(answers.map { [$0.to, $0.readIndexResponse!.context] } == [[2, 7], [3, 7], [2, 8]])
        #expect(answers.allSatisfy { $0.readIndexResponse?.success == false })
        #expect(!leader.node.hasPendingReads)
    }

    /// A follower whose request (or its answer) is lost does not wait forever: after an
    /// election timeout it gives the reads up.
    @Test func anUnansweredForwardedReadIsGivenUpAfterAnElectionTimeout() throws {
        let net = try cluster()
        try net[2].node.readIndex(8)
        _ = net[2].drain()  // the request is lost
        net[2].tick(net[2].raft.config.electionTick - 1)
        net[2].drain()
        #expect(net[2].droppedReads.isEmpty)
        net[2].tick()
        net[2].drain()
        #expect(net[2].droppedReads == [8])
        #expect(!net[2].node.hasPendingReads)
    }

    /// A follower that learns of a new term gives up what it forwarded in the old one.
    @Test func aFollowerGivesUpItsForwardedReadsWhenTheTermChanges() throws {
        let net = try cluster()
        try net[2].node.readIndex(6)
        _ = net[2].drain()
        net[2].step(Message(from: 3, to: 2, body: .appendEntries(AppendEntriesRequest(
            term: net[2].raft.term + 1, leaderID: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0))))
        net[2].drain()
        #expect(net[2].droppedReads == [6])
    }

    /// The leader may answer a request the follower sent before it restarted. That answer
    /// carries an index from before any read of the new run arrived, so it must not confirm
    /// them: contexts start at a random value in every run (found by the randomized simulation,
    /// seed 9000787, when every run counted from 1).
    @Test func anAnswerMeantForAnEarlierRunOfTheFollowerConfirmsNothing() throws {
        let net = try cluster()
        try net[2].node.readIndex(1)
        let oldRequest = try #require(net[2].drain().first)
        net[1].step(oldRequest)
        // The leader's heartbeat round, confirmed by 3, then its answer, which is held back.
        for message in net[1].drain() where message.to == 3 { net[3].step(message) }
        for message in net[3].drain() { net[1].step(message) }
        let oldAnswer = try #require(net[1].drain().first { $0.readIndexResponse != nil })
        #expect(oldAnswer.readIndexResponse?.success == true)
        // 2 restarts on its storage (another run, another random seed) and hears the leader.
        net.nodes[2] = TestNode(id: 2, voters: [1, 2, 3], storage: net[2].storage) { $0.randomSeed = 7 }
        net[1].tick()
        net.deliver()
        #expect(net[2].raft.lead == 1)
        try net[2].node.readIndex(1)
        let newRequest = try #require(net[2].drain().first?.readIndex)
        #expect(newRequest.context != oldRequest.readIndex?.context)
        net[2].step(oldAnswer)
        net[2].drain()
        #expect(net[2].readStates.isEmpty, "an answer to the previous run's request confirmed a read of this one")
    }

    /// Learners serve reads as followers do.
    @Test func aLearnerForwardsItsReadsToo() throws {
        let net = TestNetwork(3, bootstrap: true)
        net.elect(1)
        try net[1].node.propose([0])
        net.deliver()
        net.nodes[4] = TestNode(id: 4, voters: [])
        _ = try net[1].node.proposeConfigChange(ConfigChange([.addLearner(Member(id: 4, peerAddress: "10.0.0.4:7000", learner: true))]))
        for _ in 0..<3 {
            net.deliver()
            net[1].tick()
        }
        net.deliver()
        #expect(net[4].node.configuration.learnerIDs == [4])
        try net[4].node.readIndex(2)
        net.deliver()
        #expect(net[4].readStates == [ReadState(requestID: 2, index: net[1].raft.log.committed)])
    }
}
