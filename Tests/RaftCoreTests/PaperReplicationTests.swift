@testable import RaftCore
import RaftMessages
import Testing

/// Tests named after sentences of the extended Raft paper: log replication (§5.3), safety
/// (§5.4) and replication flow control.
@Suite struct PaperReplicationTests {
    /// §5.3: "the leader appends the command to its log as a new entry, then issues
    /// AppendEntries RPCs in parallel to each of the other servers to replicate the entry."
    @Test func leaderStartsReplicationOnProposal() throws {
        let net = TestNetwork(3)
        net.elect(1)
        let index = try net[1].node.propose([7])
        let out = net[1].drain()
        #expect(index == 1)
        #expect(Set(out.map(\.to)) == [2, 3])
        for message in out {
            let request = try #require(message.appendEntries)
            #expect(request.prevLogIndex == 0)
            #expect(request.entries == [LogEntry(index: 1, term: 1, data: [7])])
        }
    }

    /// §5.3: "A log entry is committed once the leader that created the entry has replicated it
    /// on a majority of the servers ... Once a follower learns that a log entry is committed, it
    /// applies the entry to its local state machine."
    @Test func leaderCommitsEntryReplicatedOnMajorityAndFollowersLearnIt() throws {
        let net = TestNetwork(5)
        net.elect(1)
        // Only nodes 2 and 3 hear from the leader.
        net.drop = { $0.to == 4 || $0.to == 5 }
        try net[1].node.propose([1])
        net.deliver()
        #expect(net[1].raft.log.committed == 1)
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        #expect(net[2].raft.log.committed == 1)
        #expect(net[3].raft.log.committed == 1)
        #expect(net[4].raft.log.lastIndex == 0)
    }

    /// §5.3: "If a follower's log is inconsistent with the leader's, the AppendEntries
    /// consistency check will fail."
    @Test func followerRejectsAppendEntriesWithoutMatchingPrevEntry() {
        let n = TestNode(id: 1, voters: [1, 2, 3], storage: storage(terms: [1, 1], term: 2, voters: [1, 2, 3]))
        n.step(Message(from: 2, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: 2, leaderID: 2, prevLogIndex: 2, prevLogTerm: 2, entries: entries([2], from: 3), leaderCommit: 0))))
        let response = n.drain().first?.appendEntriesResponse
        #expect(response?.success == false)
        #expect(response?.conflictTerm == 1)
        #expect(response?.conflictIndex == 1)
        #expect(response?.prevLogIndex == 2)
        #expect(n.raft.log.lastIndex == 2)
    }

    /// Figure 2, AppendEntries receiver 3: "If an existing entry conflicts with a new one (same
    /// index but different terms), delete the existing entry and all that follow it".
    @Test func followerTruncatesConflictingSuffix() {
        let n = TestNode(id: 1, voters: [1, 2, 3], storage: storage(terms: [1, 1, 2, 2, 2], term: 3, voters: [1, 2, 3]))
        n.step(Message(from: 2, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: 3, leaderID: 2, prevLogIndex: 2, prevLogTerm: 1, entries: entries([3], from: 3), leaderCommit: 0))))
        let ready = n.node.ready()
        #expect(ready.entries.map(\.index) == [3])
        #expect(ready.messagesAfterPersist.first?.appendEntriesResponse?.matchIndex == 3)
        try! n.storage.append(ready.entries)
        n.node.advance(ready)
        #expect(n.raft.log.lastIndex == 3)
        #expect(n.storage.logEntries.map(\.term) == [1, 1, 3])
    }

    /// Figure 2, AppendEntries receiver 5: "If leaderCommit > commitIndex, set commitIndex =
    /// min(leaderCommit, index of last new entry)".
    @Test func followerCommitsUpToLeaderCommitWithinWhatItMatched() {
        let n = TestNode(id: 1, voters: [1, 2, 3], storage: storage(terms: [1, 1, 1, 1], term: 1, voters: [1, 2, 3]))
        n.step(Message(from: 2, to: 1, body: .appendEntries(AppendEntriesRequest(
            term: 1, leaderID: 2, prevLogIndex: 2, prevLogTerm: 1, entries: [], leaderCommit: 4))))
        #expect(n.raft.log.committed == 2)
        let ready = n.node.ready()
        #expect(ready.committedEntries.map(\.index) == [1, 2])
    }

    /// §5.4.2 and Figure 8: "Raft never commits log entries from previous terms by counting
    /// replicas. Only log entries from the leader's current term are committed by counting
    /// replicas".
    @Test func leaderCommitsOnlyCurrentTermEntriesByCounting() throws {
        // Node 1 has an entry of term 2 that reached nobody else; it becomes leader in term 3.
        let voters: [UInt64] = [1, 2, 3]
        let net = TestNetwork(3)
        net.nodes[1] = TestNode(id: 1, voters: voters, storage: storage(terms: [1, 2], term: 2, voters: voters))
        net.nodes[2] = TestNode(id: 2, voters: voters, storage: storage(terms: [1], term: 2, voters: voters))
        net.nodes[3] = TestNode(id: 3, voters: voters, storage: storage(terms: [1], term: 2, voters: voters))
        net.elect(1)
        #expect(net[1].raft.role == .leader)
        #expect(net[1].raft.term == 3)
        // The term-2 entry is now on every server, yet it is not committed by counting.
        #expect(net[2].raft.log.lastIndex == 2)
        #expect(net[3].raft.log.lastIndex == 2)
        #expect(net[1].raft.log.committed == 0)
        // An entry of the current term commits, and the older one with it.
        try net[1].node.propose([9])
        net.deliver()
        #expect(net[1].raft.log.committed == 3)
    }

    /// §8: a leader with `noopOnElection` appends a blank entry of its term, which commits the
    /// entries of earlier terms without waiting for a client.
    @Test func noopOnElectionCommitsEarlierTermsAtOnce() {
        let voters: [UInt64] = [1, 2, 3]
        let net = TestNetwork(3)
        for id in voters {
            net.nodes[id] = TestNode(
                id: id, voters: voters, storage: storage(terms: id == 1 ? [1, 2] : [1], term: 2, voters: voters)
            ) { $0.noopOnElection = true }
        }
        net.elect(1)
        #expect(net[1].raft.log.committed == 3)
        #expect(net[1].storage.logEntries.last?.type == .noop)
    }

    /// §5.3: "the leader must find the latest log entry where the two logs agree, delete any
    /// entries in the follower's log after that point, and send the follower all of the leader's
    /// entries after that point" — for every follower log of Figure 7.
    @Test(arguments: [
        [UInt64](arrayLiteral: 1, 1, 1, 4, 4, 5, 5, 6, 6),  // (a)
        [1, 1, 1, 4],  // (b)
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  // (c)
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  // (d)
        [1, 1, 1, 4, 4, 4, 4],  // (e)
        [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  // (f)
    ])
    func leaderRepairsEveryFollowerLogOfFigure7(followerTerms: [UInt64]) throws {
        let leaderTerms: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let voters: [UInt64] = [1, 2, 3]
        let net = TestNetwork(3)
        net.nodes[1] = TestNode(id: 1, voters: voters, storage: storage(terms: leaderTerms, term: 8, voters: voters))
        net.nodes[2] = TestNode(id: 2, voters: voters, storage: storage(terms: followerTerms, term: 7, voters: voters))
        net.nodes[3] = TestNode(id: 3, voters: voters, storage: storage(terms: leaderTerms, term: 7, voters: voters))
        net.elect(1)
        try #require(net[1].raft.role == .leader)
        try net[1].node.propose([42])
        net.deliver()
        #expect(net[2].storage.logEntries.map(\.term) == leaderTerms + [9])
        #expect(net[1].raft.log.committed == 11)
    }

    /// §5.3: "the follower can include the term of the conflicting entry and the first index it
    /// stores for that term. With this information, the leader can decrement nextIndex to bypass
    /// all of the conflicting entries in that term; one AppendEntries RPC will be required for
    /// each term with conflicting entries, rather than one RPC per entry."
    @Test func fastBacktrackingRepairsInOTermsRoundTrips() throws {
        // Follower: 1 common entry, then 5 terms (2..6) of 40 entries each that the leader never
        // had. Leader: the common entry, then 200 entries of term 7.
        let voters: [UInt64] = [1, 2, 3]
        var followerTerms: [UInt64] = [1]
        for term in 2...6 as ClosedRange<UInt64> { followerTerms += Array(repeating: term, count: 40) }
        let leaderTerms: [UInt64] = [1] + Array(repeating: 7, count: 200)
        let net = TestNetwork(3)
        net.nodes[1] = TestNode(id: 1, voters: voters, storage: storage(terms: leaderTerms, term: 7, voters: voters))
        net.nodes[2] = TestNode(id: 2, voters: voters, storage: storage(terms: followerTerms, term: 7, voters: voters))
        net.nodes[3] = TestNode(id: 3, voters: voters, storage: storage(terms: leaderTerms, term: 7, voters: voters))
        net.drop = { $0.to == 2 || $0.from == 2 }
        net.elect(1)
        net.drop = { _ in false }
        // One heartbeat answer starts the probe; count the rejections node 2 sends.
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        let rejections = net.delivered.filter { $0.from == 2 && $0.appendEntriesResponse?.success == false }
        #expect(rejections.count <= 6)
        #expect(net[2].storage.logEntries.map(\.term) == leaderTerms)
    }

    /// Pipelining: in replicate state the leader keeps up to `maxInflightMsgs` AppendEntries in
    /// flight without waiting for answers, then pauses until acknowledgements free the window.
    @Test func leaderPipelinesUpToMaxInflightMessages() throws {
        let net = TestNetwork(2) {
            $0.maxInflightMsgs = 3
            $0.maxEntriesPerMsg = 1
        }
        net.elect(1)
        try #require(net[1].raft.progress[2]?.state == .replicate)
        for i in 0..<10 { try net[1].node.propose([UInt8(i)]) }
        let out = net[1].drain()
        #expect(out.count == 3)
        #expect(out.map { $0.appendEntries?.entries.map(\.index) ?? [] } == [[1], [2], [3]])
        // Acknowledging the first frees one slot: exactly one more message goes out.
        net[2].step(out[0])
        net[1].step(net[2].drain()[0])
        let more = net[1].drain()
        #expect(more.compactMap { $0.appendEntries?.entries.map(\.index) } == [[4]])
    }

    /// Flow control: an AppendEntries carries at most `maxEntriesPerMsg` entries and at most
    /// `maxSizePerMsg` bytes (a single larger entry still travels alone).
    @Test func appendEntriesRespectsEntryAndByteLimits() throws {
        let net = TestNetwork(2) {
            $0.maxEntriesPerMsg = 4
            $0.maxSizePerMsg = 250
            $0.maxInflightMsgs = 100
        }
        net.elect(1)
        for _ in 0..<6 { try net[1].node.propose([UInt8](repeating: 1, count: 10)) }
        try net[1].node.propose([UInt8](repeating: 2, count: 1000))
        try net[1].node.propose([UInt8](repeating: 3, count: 100))
        try net[1].node.propose([UInt8](repeating: 3, count: 100))
        let batches = net[1].drain().compactMap { $0.appendEntries?.entries.map(\.index) }
        #expect(batches == [[1, 2, 3, 4], [5, 6], [7], [8, 9]])
    }

    /// Proposals that arrive together travel together: one AppendEntries per follower.
    @Test func proposalsMadeTogetherAreBatchedIntoOneMessage() throws {
        let net = TestNetwork(3)
        net.elect(1)
        for i in 0..<12 { try net[1].node.propose([UInt8(i)]) }
        let out = net[1].drain()
        #expect(out.count == 2)
        #expect(out.allSatisfy { $0.appendEntries?.entries.count == 12 })
    }

    /// A rejection of an older pipelined request (its `prevLogIndex` echo is below what the
    /// leader already knows to match) does not send the leader back.
    @Test func leaderIgnoresStaleRejection() throws {
        let net = TestNetwork(2)
        net.elect(1)
        for i in 0..<3 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        let before = try #require(net[1].raft.progress[2])
        #expect(before.match == 3)
        net[1].step(Message(from: 2, to: 1, body: .appendEntriesResponse(AppendEntriesResponse(
            term: 1, success: false, conflictIndex: 1, conflictTerm: 0, prevLogIndex: 1))))
        let after = try #require(net[1].raft.progress[2])
        #expect(after.state == .replicate)
        #expect(after.next == 4)
        #expect(net[1].drain().isEmpty)
    }

    /// Figure 2: "Respond to RPCs ... after updating stable storage": the acknowledgement of an
    /// AppendEntries travels in the same `Ready` as the entries it acknowledges, which the driver
    /// persists before sending.
    @Test func followerAcknowledgesEntriesInTheReadyThatPersistsThem() {
        let n = TestNode(id: 2, voters: [1, 2, 3])
        n.step(Message(from: 1, to: 2, body: .appendEntries(AppendEntriesRequest(
            term: 1, leaderID: 1, prevLogIndex: 0, prevLogTerm: 0, entries: entries([1, 1]), leaderCommit: 0))))
        let ready = n.node.ready()
        #expect(ready.entries.map(\.index) == [1, 2])
        #expect(ready.mustSync)
        #expect(ready.messagesAfterPersist.first?.appendEntriesResponse?.matchIndex == 2)
        #expect(ready.hardState == HardState(term: 1, vote: 0, commit: 0))
    }

    /// Heartbeats carry the commit index as far as the follower is known to match, so a follower
    /// that missed the commit learns it at the next heartbeat (§5.3 "eventually").
    @Test func heartbeatsPropagateTheCommitIndex() throws {
        let net = TestNetwork(3)
        net.elect(1)
        // Node 3 receives the entry but not the commit that follows it.
        try net[1].node.propose([5])
        var seen = 0
        net.drop = { message in
            guard message.to == 3, let request = message.appendEntries else { return false }
            seen += 1
            return request.entries.isEmpty && seen > 1
        }
        net.deliver()
        #expect(net[1].raft.log.committed == 1)
        #expect(net[3].raft.log.committed == 0)
        #expect(net[1].node.status.progress[3] == PeerProgress(match: 1, next: 2, state: .replicate))
        #expect(net[2].node.status.progress.isEmpty)
        net.drop = { _ in false }
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        #expect(net[3].raft.log.committed == 1)
    }

    /// A long backlog of committed entries reaches the driver in bounded `Ready`s.
    @Test func committedEntriesAreHandedOutInBoundedReadies() {
        let s = storage(terms: Array(repeating: 1, count: 50), term: 1, voters: [1, 2, 3], commit: 50)
        let n = TestNode(id: 1, voters: [1, 2, 3], storage: s) { $0.maxCommittedSizePerReady = 100 }
        var batches: [[UInt64]] = []
        while n.node.hasReady {
            let ready = n.node.ready()
            batches.append(ready.committedEntries.map(\.index))
            n.node.advance(ready)
        }
        #expect(batches.count > 1)
        #expect(batches.flatMap { $0 } == Array(1...50))
    }

    /// Proposing to a follower fails with the leader it knows.
    @Test func proposalToFollowerIsRefused() {
        let net = TestNetwork(3)
        net.elect(1)
        #expect(throws: RaftError.notLeader(leaderID: 1)) { try net[2].node.propose([1]) }
    }

    /// Figure 2, persistent state: a restarted server recovers term, vote and log from storage.
    @Test func restartRecoversTermVoteAndLog() throws {
        let net = TestNetwork(3)
        net.elect(1)
        for i in 0..<3 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        let storage = net[2].storage.copy()
        let restarted = TestNode(id: 2, voters: [1, 2, 3], storage: storage)
        #expect(restarted.raft.term == net[2].raft.term)
        #expect(restarted.raft.vote == 1)
        #expect(restarted.raft.log.lastIndex == 3)
        #expect(restarted.raft.log.committed == net[2].storage.hardState.commit)
    }
}

/// Heartbeats and appends share the AppendEntries message, so the leader's reaction to an
/// answer that tells it nothing new must stay bounded: at most one catch-up append per
/// heartbeat interval, never an empty append for every such answer (which, with entries always
/// in flight under load, would ping-pong forever and pile up a new exchange per heartbeat).
@Suite struct ReplicationTrafficTests {
    @Test func emptyAppendsStayBoundedUnderSteadyLoad() throws {
        let net = TestNetwork(3)
        net.elect(1)
        let leader = net[1]
        var inFlight: [Message] = []
        var emptyAppends = 0
        let steps = 400
        let tickEvery = 10
        for step in 0..<steps {
            try leader.node.propose([UInt8(step & 0xFF)])
            if step % tickEvery == 0 { leader.tick(leader.raft.config.heartbeatTick) }
            inFlight += leader.drain()
            // One network round: everything in flight is delivered once.
            var next: [Message] = []
            for message in inFlight {
                if let request = message.appendEntries, request.entries.isEmpty { emptyAppends += 1 }
                net[message.to].step(message)
                next += net[message.to].drain()
            }
            inFlight = next
        }
        let heartbeats = steps / tickEvery
        // Per tick and follower: the heartbeat itself, at most one catch-up append, and at most
        // one commit announcement (the appends of the next write carry the commit index).
        let bound = heartbeats * 2 * 3
        #expect(emptyAppends <= bound, "\(emptyAppends) empty appends for \(steps) commits and \(heartbeats) heartbeats")
        #expect(net[2].raft.log.committed > UInt64(steps - 10))
    }
}
