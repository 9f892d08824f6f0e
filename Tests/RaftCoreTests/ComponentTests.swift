@testable import RaftCore
import RaftMessages
import Testing

/// The small pieces: quorum arithmetic, the inflights window, the unstable log, wire sizes.
@Suite struct ComponentTests {
    /// §5.3: the commit point is the largest index a majority has matched.
    @Test(arguments: [
        ([5], [5], 5),
        ([1, 2, 3], [5, 3, 1], 3),
        ([1, 2, 3, 4], [9, 7, 2, 1], 2),
        ([1, 2, 3, 4, 5], [10, 10, 4, 3, 0], 4),
    ] as [([UInt64], [UInt64], UInt64)])
    func committedIndexIsTheMajorityMatch(voters: [UInt64], matches: [UInt64], expected: UInt64) {
        let config = MajorityConfig(voters: voters)
        let byID = Dictionary(uniqueKeysWithValues: zip(voters, matches))
        #expect(config.committedIndex { byID[$0] ?? 0 } == expected)
    }

    @Test func inflightsWindowFillsAndFrees() {
        var window = Inflights(capacity: 3)
        window.add(2)
        window.add(5)
        window.add(9)
        #expect(window.isFull)
        window.free(upTo: 5)
        #expect(window.count == 1)
        window.freeFirstOne()
        #expect(window.count == 0)
    }

    @Test func unstableTruncatesAndAppends() {
        var unstable = Unstable(offset: 5)
        unstable.truncateAndAppend(entries([1, 1, 1], from: 5))
        unstable.truncateAndAppend(entries([2, 2], from: 6))
        #expect(unstable.entries.map(\.term) == [1, 2, 2])
        unstable.truncateAndAppend(entries([3], from: 4))
        #expect(unstable.offset == 4)
        #expect(unstable.entries.map(\.index) == [4])
        unstable.stableTo(index: 4, term: 2)  // wrong term: ignored
        #expect(unstable.entries.count == 1)
        unstable.stableTo(index: 4, term: 3)
        #expect(unstable.entries.isEmpty && unstable.offset == 5)
    }

    /// The wire sizes equal the protobuf encoding (field tags, varints, omitted defaults).
    @Test func wireSizesMatchProtobufEncoding() {
        #expect(LogEntry(index: 1, term: 1, data: [1, 2, 3]).wireSize == 2 + 2 + 5)
        #expect(LogEntry(index: 300, term: 0).wireSize == 3)
        let request = RaftMessage.appendEntries(AppendEntriesRequest(
            term: 2, leaderID: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [LogEntry(index: 1, term: 2)], leaderCommit: 0))
        #expect(request.wireSize == 2 + 2 + (2 + 4))
        #expect(RaftMessage.requestVoteResponse(RequestVoteResponse(term: 0, voteGranted: false)).wireSize == 0)
    }

    /// With check-quorum, a follower that heard from its leader within the election timeout
    /// ignores a vote request of a higher term (thesis §4.2.3): a removed or partitioned server
    /// cannot depose a working leader. It answers with a refusal at its own term, so that every
    /// request has exactly one response (the transport pairs them by order).
    @Test func followerInLeaseRefusesVoteRequestsWithoutTakingTheirTerm() {
        let net = TestNetwork(3) { $0.checkQuorum = true }
        net.elect(1)
        let follower = net[2]
        let term = follower.raft.term
        for preVote in [false, true] {
            follower.step(Message(from: 3, to: 2, body: .requestVote(RequestVoteRequest(
                term: term + 1, candidateID: 3, lastLogIndex: 10, lastLogTerm: term + 1, preVote: preVote))))
            #expect(follower.raft.term == term)
            #expect(follower.raft.vote != 3)
            let answers = follower.drain()
            #expect(answers == [Message(from: 2, to: 3, body: .requestVoteResponse(
                RequestVoteResponse(term: term, voteGranted: false, preVote: preVote)))])
        }
    }

    /// A leader that finds a higher term in any response steps down (Figure 2, All Servers).
    @Test func leaderStepsDownOnHigherTermResponse() {
        let net = TestNetwork(3)
        net.elect(1)
        net[1].step(Message(from: 2, to: 1, body: .appendEntriesResponse(AppendEntriesResponse(term: 9, success: false))))
        #expect(net[1].raft.role == .follower)
        #expect(net[1].raft.term == 9)
    }

    /// The commit lag a follower reports (the leader's commit index as last heard minus its
    /// own) appears when it hears of commits its log cannot follow yet, and is 0 on the leader
    /// and once the follower has caught up.
    @Test func followerReportsItsCommitLagUntilItCatchesUp() throws {
        let net = TestNetwork(3)
        net.elect(1)
        // Node 3 hears nothing while four entries commit on 1 and 2.
        net.drop = { $0.to == 3 || $0.from == 3 }
        for i in 0..<4 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        let leaderCommit = net[1].node.commitIndex
        #expect(net[1].node.status.commitLag == 0)
        #expect(net[3].node.commitIndex < leaderCommit)
        // A heartbeat tells node 3 the leader's commit index; its log cannot follow yet (its
        // answer is dropped, so the leader does not send the missing entries).
        let heartbeat = Message(
            from: 1, to: 3,
            body: .appendEntries(AppendEntriesRequest(
                term: net[1].node.term, leaderID: 1, prevLogIndex: net[3].node.lastIndex,
                prevLogTerm: net[3].raft.log.lastTerm, leaderCommit: leaderCommit)))
        net[3].step(heartbeat)
        _ = net[3].drain()
        #expect(net[3].node.status.commitLag == leaderCommit - net[3].node.commitIndex)
        #expect(net[3].node.status.commitLag > 0)
        // Once the links heal, it catches up and the lag is gone.
        net.drop = { _ in false }
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        #expect(net[3].node.commitIndex == leaderCommit)
        #expect(net[3].node.status.commitLag == 0)
    }
}
