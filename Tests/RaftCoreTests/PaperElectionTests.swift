@testable import RaftCore
import RaftMessages
import Testing

/// Tests named after sentences of the extended Raft paper (in the manner of etcd's
/// raft_paper_test.go): leader election and the rules every server follows.
@Suite struct PaperElectionTests {
    /// §5.1: "If one server's current term is smaller than the other's, then it updates its
    /// current term to the larger value. If a candidate or leader discovers that its term is out
    /// of date, it immediately reverts to follower state."
    @Test(arguments: [Role.follower, .candidate, .leader])
    func followerUpdatesTermFromHigherTermMessage(role: Role) {
        let net = TestNetwork(3)
        let n = net[1]
        switch role {
        case .candidate:
            n.node.campaign()
            n.drain()
        case .leader:
            net.elect(1)
        default:
            break
        }
        #expect(n.raft.role == role)
        let term = n.raft.term
        n.step(Message(from: 2, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: term + 5, leaderID: 2, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0))))
        #expect(n.raft.term == term + 5)
        #expect(n.raft.role == .follower)
        #expect(n.raft.lead == 2)
    }

    /// §5.1: "If a server receives a request with a stale term number, it rejects the request."
    @Test func serverRejectsRequestWithStaleTerm() {
        let n = TestNode(id: 1, voters: [1, 2, 3], storage: storage(terms: [1], term: 3, voters: [1, 2, 3]))
        n.step(Message(from: 2, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: 2, leaderID: 2, prevLogIndex: 1, prevLogTerm: 1, entries: entries([2], from: 2), leaderCommit: 2))))
        let out = n.drain()
        #expect(out.count == 1)
        #expect(out[0].appendEntriesResponse?.success == false)
        #expect(out[0].term == 3)
        #expect(n.raft.log.lastIndex == 1)
        #expect(n.raft.log.committed == 0)
    }

    /// §5.2: "When servers start up, they begin as followers."
    @Test func serversStartAsFollowers() {
        #expect(TestNode(id: 1, voters: [1, 2, 3]).raft.role == .follower)
    }

    /// §5.2: "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to
    /// all followers in order to maintain their authority."
    @Test func leaderBroadcastsHeartbeats() {
        let net = TestNetwork(3) { $0.heartbeatTick = 2 }
        net.elect(1)
        let n = net[1]
        n.tick()
        #expect(n.drain().isEmpty)
        n.tick()
        let out = n.drain()
        #expect(Set(out.map(\.to)) == [2, 3])
        #expect(out.allSatisfy { $0.appendEntries?.entries.isEmpty == true })
    }

    /// §5.2: "If a follower receives no communication over a period of time called the election
    /// timeout, then it assumes there is no viable leader and begins an election to choose a new
    /// leader. To begin an election, a follower increments its current term and transitions to
    /// candidate state. It then votes for itself and issues RequestVote RPCs in parallel to each
    /// of the other servers in the cluster."
    @Test func candidateStartsElectionOnTimeout() {
        let n = TestNode(id: 1, voters: [1, 2, 3])
        n.timeOut()
        #expect(n.raft.role == .candidate)
        #expect(n.raft.term == 1)
        #expect(n.raft.vote == 1)
        let out = n.drain()
        #expect(Set(out.map(\.to)) == [2, 3])
        #expect(out.allSatisfy { $0.requestVote?.term == 1 && $0.requestVote?.preVote == false })
        // A candidate whose election times out starts a new one in the next term.
        n.timeOut()
        for _ in 0..<(2 * n.raft.config.electionTick) where n.raft.term == 1 { n.tick() }
        #expect(n.raft.role == .candidate)
        #expect(n.raft.term == 2)
    }

    /// §5.2: "A candidate wins an election if it receives votes from a majority of the servers in
    /// the full cluster for the same term."
    @Test(arguments: [
        (5, [UInt64: Bool](), Role.candidate),
        (5, [2: true], .candidate),
        (5, [2: true, 3: true], .leader),
        (5, [2: false, 3: false], .candidate),
        (5, [2: false, 3: false, 4: false], .follower),
        (3, [2: true], .leader),
    ])
    func candidateWinsWithMajorityOfVotes(size: Int, votes: [UInt64: Bool], expected: Role) {
        let voters = (1...UInt64(size)).map { $0 }
        let n = TestNode(id: 1, voters: voters)
        n.node.campaign()
        n.drain()
        for (from, granted) in votes.sorted(by: { $0.key < $1.key }) {
            n.step(Message(from: from, to: 1, body: .requestVoteResponse(RequestVoteResponse(term: 1, voteGranted: granted))))
        }
        #expect(n.raft.role == expected)
    }

    /// §5.2: "Each server will vote for at most one candidate in a given term, on a
    /// first-come-first-served basis."
    @Test func followerVotesAtMostOncePerTerm() {
        let n = TestNode(id: 1, voters: [1, 2, 3])
        n.step(Message(from: 2, to: 1, body: .requestVote(RequestVoteRequest(term: 1, candidateID: 2, lastLogIndex: 0, lastLogTerm: 0))))
        n.step(Message(from: 3, to: 1, body: .requestVote(RequestVoteRequest(term: 1, candidateID: 3, lastLogIndex: 0, lastLogTerm: 0))))
        n.step(Message(from: 2, to: 1, body: .requestVote(RequestVoteRequest(term: 1, candidateID: 2, lastLogIndex: 0, lastLogTerm: 0))))
        let out = n.drain()
        #expect(out.map { $0.requestVoteResponse?.voteGranted } == [true, false, true])
        #expect(n.raft.vote == 2)
    }

    /// Figure 2: persistent state is "updated on stable storage before responding to RPCs" — the
    /// vote reaches `Ready.hardState` in the same `Ready` that carries the response, and the
    /// driver persists it before sending.
    @Test func voteIsPersistedInTheReadyThatCarriesTheResponse() {
        let n = TestNode(id: 1, voters: [1, 2, 3])
        n.step(Message(from: 2, to: 1, body: .requestVote(RequestVoteRequest(term: 4, candidateID: 2, lastLogIndex: 0, lastLogTerm: 0))))
        let ready = n.node.ready()
        #expect(ready.hardState == HardState(term: 4, vote: 2, commit: 0))
        #expect(ready.mustSync)
        #expect(ready.messagesAfterPersist.first?.requestVoteResponse?.voteGranted == true)
    }

    /// §5.2: "While waiting for votes, a candidate may receive an AppendEntries RPC from another
    /// server claiming to be leader. If the leader's term is at least as large as the
    /// candidate's current term, then the candidate recognizes the leader as legitimate and
    /// returns to follower state."
    @Test func candidateFallsBackToFollowerOnAppendEntriesFromNewLeader() {
        let n = TestNode(id: 1, voters: [1, 2, 3])
        n.node.campaign()
        n.drain()
        n.step(Message(from: 2, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: 1, leaderID: 2, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0))))
        #expect(n.raft.role == .follower)
        #expect(n.raft.term == 1)
        #expect(n.raft.lead == 2)
    }

    /// §5.2: "Raft uses randomized election timeouts to ensure that split votes are rare ...
    /// election timeouts are chosen randomly from a fixed interval".
    @Test func electionTimeoutIsRandomizedWithinOneToTwoTimeouts() {
        var seen = Set<Int>()
        for seed in 0..<200 as Range<UInt64> {
            let n = TestNode(id: 1, voters: [1, 2, 3]) { $0.randomSeed = seed }
            var ticks = 0
            while n.raft.role == .follower {
                n.tick()
                ticks += 1
            }
            #expect(ticks >= 10 && ticks < 20)
            seen.insert(ticks)
        }
        #expect(seen.count >= 8)
    }

    /// §5.4.1: "The RequestVote RPC implements this restriction: the RPC includes information
    /// about the candidate's log, and the voter denies its vote if its own log is more
    /// up-to-date than that of the candidate."
    @Test(arguments: [
        (UInt64(3), UInt64(2), true),  // same last term, longer
        (2, 2, true),  // identical
        (1, 2, false),  // same last term, shorter
        (5, 1, false),  // older last term, longer
        (1, 3, true),  // newer last term, shorter
    ])
    func electionRestrictionRejectsStaleCandidate(lastIndex: UInt64, lastTerm: UInt64, granted: Bool) {
        let n = TestNode(id: 1, voters: [1, 2, 3], storage: storage(terms: [1, 2], term: 2, voters: [1, 2, 3]))
        n.step(Message(from: 2, to: 1, body: .requestVote(RequestVoteRequest(
            term: 3, candidateID: 2, lastLogIndex: lastIndex, lastLogTerm: lastTerm))))
        let out = n.drain()
        #expect(out.first?.requestVoteResponse?.voteGranted == granted)
        #expect(n.raft.term == 3)
    }

    /// Thesis §9.6: with pre-vote, a node cut off from the cluster keeps campaigning without
    /// raising its term, so on its return it does not depose the leader.
    @Test func preVoteKeepsPartitionedNodeFromRaisingItsTerm() {
        let net = TestNetwork(3) {
            $0.preVote = true
            $0.checkQuorum = true
        }
        net.elect(1)
        #expect(net[1].raft.role == .leader)
        let term = net[1].raft.term
        // Node 3 is cut off: it times out repeatedly but never moves past pre-vote.
        net.drop = { $0.from == 3 || $0.to == 3 }
        for _ in 0..<5 {
            net[3].timeOut()
            net.deliver()
        }
        #expect(net[3].raft.term == term)
        #expect(net[3].raft.role == .preCandidate)
        // Back in touch, it follows the leader instead of disrupting it.
        net.drop = { _ in false }
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        #expect(net[1].raft.role == .leader)
        #expect(net[1].raft.term == term)
        #expect(net[3].raft.role == .follower)
        #expect(net[3].raft.lead == 1)
    }

    /// Check-quorum: "a leader steps down if an election timeout elapses without a successful
    /// round of heartbeats to a majority of its cluster" (thesis §6.2).
    @Test func leaderStepsDownWithoutQuorumWhenCheckQuorumIsOn() {
        let net = TestNetwork(3) { $0.checkQuorum = true }
        net.elect(1)
        let leader = net[1]
        net.drop = { $0.from == 1 || $0.to == 1 }
        for _ in 0..<(2 * leader.raft.config.electionTick) {
            leader.tick()
            net.deliver()
        }
        #expect(leader.raft.role == .follower)
    }
}
