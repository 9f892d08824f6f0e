@testable import RaftCore
import RaftMessages
import Testing

/// Leadership transfer (Raft thesis §3.10): the leader brings the target up to date, sends it
/// `TimeoutNow`, and the target campaigns at once with votes that pass the leader lease.
@Suite struct LeadershipTransferTests {
    /// Three voters with check-quorum (the leader lease) on; 1 leads with a committed entry.
    func cluster() throws -> TestNetwork {
        let net = TestNetwork(3) { $0.checkQuorum = true }
        net.elect(1)
        try net[1].node.propose([0])
        net.deliver()
        return net
    }

    @Test func aTransferToAnUpToDateFollowerElectsItAtOnce() throws {
        let net = try cluster()
        try net[1].node.transferLeadership(to: 3)
        net.deliver()
        #expect(net[3].raft.role == .leader)
        #expect(net[1].raft.role == .follower)
        #expect(net[1].raft.lead == 3)
    }

    @Test func aTransferToALaggingFollowerCatchesItUpFirst() throws {
        let net = try cluster()
        net.drop = { $0.to == 3 }
        for i in 0..<5 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        #expect(net[3].raft.log.lastIndex < net[1].raft.log.lastIndex)
        net.drop = { _ in false }
        try net[1].node.transferLeadership(to: 3)
        let firstToThree = net[1].drain().first { $0.to == 3 }
        #expect(firstToThree?.appendEntries != nil, "entries first, not TimeoutNow")
        net.deliver(firstToThree.map { [$0] } ?? [])
        #expect(net[3].raft.role == .leader)
        #expect(net[3].raft.log.lastIndex >= 6)
    }

    @Test func aTransferToALearnerOrANonMemberIsRefused() throws {
        let net = TestNetwork(3, bootstrap: true) { $0.checkQuorum = true }
        net.elect(1)
        try net[1].node.propose([0])
        net.deliver()
        net.nodes[4] = TestNode(id: 4, voters: [])
        try net[1].node.proposeConfigChange(ConfigChange([.addLearner(Member(id: 4, learner: true))]))
        net.deliver()
        net[1].tick()
        net.deliver()
        #expect(throws: RaftError.transferRefused("member 4 is a learner; only a voter can lead")) {
            try net[1].node.transferLeadership(to: 4)
        }
        #expect(throws: RaftError.transferRefused("member 9 is not a voter of the configuration")) {
            try net[1].node.transferLeadership(to: 9)
        }
        #expect(net[1].raft.leadTransferee == 0)
    }

    /// The target crashed (or never answers): after an election timeout the leader abandons the
    /// transfer and accepts proposals again.
    @Test func aTransferNotCompletedWithinAnElectionTimeoutIsAbandoned() throws {
        let net = try cluster()
        net.drop = { $0.to == 3 || $0.from == 3 }
        try net[1].node.transferLeadership(to: 3)
        net.deliver()
        #expect(throws: RaftError.proposalDropped) { try net[1].node.propose([1]) }
        for _ in 0..<net[1].raft.config.electionTick {
            net[1].tick()
            net.deliver()
        }
        #expect(net[1].raft.leadTransferee == 0)
        #expect(net[1].raft.role == .leader)
        try net[1].node.propose([1])
    }

    /// A leader that stops (SIGTERM) or leaves hands over to the voter whose log is closest to
    /// its own among those heard from within an election timeout: the quickest transfer.
    @Test func aLeavingLeaderHandsOverToTheMostUpToDateVoterHeardFromLately() throws {
        let net = TestNetwork(5) { $0.checkQuorum = true }
        net.elect(1)
        try net[1].node.propose([0])
        net.deliver()
        // 3 misses the next entries; 5 stops answering altogether.
        net.drop = { ($0.to == 3 && $0.appendEntries.map { !$0.entries.isEmpty } == true) || $0.to == 5 || $0.from == 5 }
        for i in 0..<3 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        for _ in 0...net[1].raft.config.electionTick {
            net[1].tick()
            net.deliver()
        }
        #expect(net[1].raft.role == .leader)
        #expect(net[1].node.bestTransferee() == 2, "2 and 4 are up to date; the lower id wins the tie")
        #expect(net[1].node.bestTransferee(excluding: [2]) == 4)
        #expect(net[1].node.bestTransferee(excluding: [2, 4]) == 3, "3 lags but answers")
        #expect(net[1].node.bestTransferee(excluding: [2, 3, 4]) == nil, "5 was not heard from")
        #expect(net[2].node.bestTransferee() == nil, "only a leader hands over")
    }

    @Test func proposalsDuringATransferAreDroppedNotAppended() throws {
        let net = try cluster()
        net.drop = { $0.to == 3 }
        try net[1].node.transferLeadership(to: 3)
        let last = net[1].raft.log.lastIndex
        #expect(throws: RaftError.proposalDropped) { try net[1].node.propose([9]) }
        #expect(net[1].raft.log.lastIndex == last)
    }

    /// Thesis §4.2.3: a voter that heard from the leader within the election timeout ignores
    /// vote requests — unless the leader itself handed leadership over.
    @Test func aVoteRequestOfALeadershipTransferPassesTheLeaderLeaseAndOthersDoNot() throws {
        let net = try cluster()
        let term = net[2].raft.term
        let last = net[2].raft.log.lastIndex
        let plain = RequestVoteRequest(term: term + 1, candidateID: 3, lastLogIndex: last, lastLogTerm: term)
        net[2].step(Message(from: 3, to: 2, body: .requestVote(plain)))
        let refused = net[2].drain().compactMap(\.requestVoteResponse)
        #expect(refused.map(\.voteGranted) == [false])
        #expect(net[2].raft.term == term)

        var transfer = plain
        transfer.leadershipTransfer = true
        net[2].step(Message(from: 3, to: 2, body: .requestVote(transfer)))
        let granted = net[2].drain().compactMap(\.requestVoteResponse)
        #expect(granted.map(\.voteGranted) == [true])
        #expect(net[2].raft.term == term + 1)
    }
}
