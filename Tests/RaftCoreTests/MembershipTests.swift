@testable import RaftCore
import RaftMessages
import RaftWire
import Testing

/// Membership changes (§6 of the extended paper): each safety rule of the leader and the
/// members, joint consensus, learners, and the configuration in snapshots, restarts and
/// bootstrap. The randomized simulation covers their interleavings with faults.
@Suite struct MembershipTests {
    // MARK: Set-up

    static func member(_ id: UInt64, learner: Bool = false) -> Member {
        Member(id: id, peerAddress: "10.0.0.\(id):7000", learner: learner)
    }

    /// `count` voters bootstrapped as the real node does (the first configuration at log index
    /// 1); 1 leads and has committed an entry of its term.
    func cluster(_ count: Int, configure: (inout Config) -> Void = { _ in }) throws -> TestNetwork {
        let net = TestNetwork(count, bootstrap: true, configure: configure)
        net.elect(1)
        try net[1].node.propose([0])
        net.deliver()
        #expect(net[1].raft.committedInTerm)
        return net
    }

    /// Proposes a change on `leader` and delivers until every member that can has applied it
    /// (ticks let the commit index reach followers that would otherwise hear it with the next
    /// entry).
    @discardableResult
    func propose(_ net: TestNetwork, _ steps: ConfigChangeStep..., on leader: UInt64 = 1) throws -> UInt64 {
        let index = try net[leader].node.proposeConfigChange(ConfigChange(steps))
        settle(net, leader: leader)
        return index
    }

    func settle(_ net: TestNetwork, leader: UInt64 = 1) {
        net.deliver()
        for _ in 0..<2 {
            net[leader].tick()
            net.deliver()
        }
    }

    /// Adds member `id` as a learner on an empty storage (a new member joining) and lets it
    /// catch up.
    func addLearner(_ net: TestNetwork, _ id: UInt64, configure: (inout Config) -> Void = { _ in }) throws {
        net.nodes[id] = TestNode(id: id, voters: [], configure: configure)
        try propose(net, .addLearner(Self.member(id, learner: true)))
    }

    func refusal(_ body: () throws -> Void) -> ConfigChangeRefusal? {
        do {
            try body()
        } catch RaftError.configChangeRefused(let refusal) {
            return refusal
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    // MARK: Changes take effect when applied

    @Test func aSingleServerChangeTakesEffectOnEachMemberWhenItApplies() throws {
        let net = try cluster(3)
        net.nodes[4] = TestNode(id: 4, voters: [])
        let index = try net[1].node.proposeConfigChange(ConfigChange([.addVoter(Self.member(4))]))
        // Appended, not applied: the leader still counts three voters.
        #expect(net[1].node.voters == [1, 2, 3])
        settle(net)
        for id: UInt64 in 1...4 {
            #expect(net[id].node.voters == [1, 2, 3, 4], "member \(id)")
            #expect(net[id].raft.log.applied >= index)
        }
        #expect(net[1].raft.quorum.incoming.quorum == 3)
        // The new member received the whole log, its configuration entries included.
        #expect(net[4].raft.log.lastIndex == net[1].raft.log.lastIndex)
    }

    @Test func aMemberJoiningARunningClusterNeverCampaignsUntilAConfigurationMakesItAVoter() throws {
        let net = try cluster(3)
        net.nodes[4] = TestNode(id: 4, voters: [])
        net[4].tick(100)
        #expect(net[4].raft.role == .follower)
        #expect(net[4].node.ready().messagesAfterPersist.isEmpty)
        try addLearner(net, 4)
        net[4].tick(100)
        #expect(net[4].raft.role == .follower, "a learner never campaigns")
        try propose(net, .promote(4))
        #expect(net[4].raft.promotable)
        net[4].timeOut()
        #expect(net[4].raft.role == .candidate)
    }

    // MARK: Safety rules of the leader

    @Test func oneChangeAtATime() throws {
        let net = try cluster(3)
        let first = try net[1].node.proposeConfigChange(ConfigChange([.addLearner(Self.member(4, learner: true))]))
        let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([.addLearner(Self.member(5, learner: true))])) }
        #expect(refused == .pending(index: first, automatic: false))
        net.deliver()
        // Applied: the next change is accepted.
        try propose(net, .addLearner(Self.member(5, learner: true)))
        #expect(net[1].node.configuration.learnerIDs == [4, 5])
    }

    /// The single-server bug described on raft-dev in 2015: a leader that has not committed an
    /// entry of its term may not know the latest committed configuration.
    @Test func noChangeBeforeTheLeaderHasCommittedAnEntryOfItsTerm() throws {
        let net = TestNetwork(3, bootstrap: true)
        net.elect(1)
        #expect(!net[1].raft.committedInTerm)
        let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([.addLearner(Self.member(4, learner: true))])) }
        #expect(refused == .noCommitInTerm)
        #expect(net[1].raft.log.lastIndex == 1, "nothing appended after the bootstrap entry")
        try net[1].node.propose([1])
        net.deliver()
        try propose(net, .addLearner(Self.member(4, learner: true)))
        #expect(net[1].node.configuration.learnerIDs == [4])
    }

    /// A new leader first applies every entry its log held when it was elected: one of them may
    /// be an earlier leader's change.
    @Test func aNewLeaderWaitsForTheChangesItInheritedBeforeProposingItsOwn() throws {
        let net = try cluster(3)
        // 1 appends a change that reaches 2 only, then loses leadership.
        net.drop = { $0.to == 3 || $0.from == 3 || ($0.from == 2 && $0.to == 1) }
        _ = try net[1].node.proposeConfigChange(ConfigChange([.addLearner(Self.member(4, learner: true))]))
        net.deliver()
        net.drop = { $0.from == 1 || $0.to == 1 }
        net.elect(2)
        #expect(net[2].raft.role == .leader)
        let refused = refusal { try net[2].node.proposeConfigChange(ConfigChange([.addLearner(Self.member(5, learner: true))])) }
        #expect(refused == .pending(index: net[2].raft.log.lastIndex, automatic: true))
        try net[2].node.propose([2])
        net.deliver()
        try propose(net, .addLearner(Self.member(5, learner: true)), on: 2)
        #expect(net[2].node.configuration.learnerIDs == [4, 5])
    }

    /// etcd#7280: a member that counted votes with a configuration the cluster has already
    /// replaced could win alongside another leader.
    @Test func aMemberWithACommittedButUnappliedChangeDoesNotCampaign() throws {
        let change = try ConfigChange([.addVoter(Self.member(4))]).serializedBytes()
        let storage = MemoryStorage(voters: [1, 2, 3])
        try storage.append([LogEntry(index: 1, term: 1, type: .config, data: change)])
        storage.setHardState(HardState(term: 1, vote: 0, commit: 1))
        let node = TestNode(id: 2, voters: [1, 2, 3], storage: storage)
        node.node.campaign()
        #expect(node.raft.role == .follower)
        node.drain()
        #expect(node.node.voters == [1, 2, 3, 4])
        node.node.campaign()
        #expect(node.raft.role == .candidate)
    }

    /// The same rule when the commit index was lost (a crash between writing entries and the
    /// hard state): a change followed by another change in the log is committed, because the
    /// leader that appended the second one had applied the first.
    @Test func aChangeFollowedByAnotherChangeCountsAsCommittedForTheCampaignRule() throws {
        let first = try ConfigChange([.addLearner(Self.member(4, learner: true))]).serializedBytes()
        let second = try ConfigChange([.promote(4)]).serializedBytes()
        let storage = MemoryStorage(voters: [1, 2, 3])
        try storage.append([
            LogEntry(index: 1, term: 1, type: .config, data: first), LogEntry(index: 2, term: 1, data: [7]),
            LogEntry(index: 3, term: 1, type: .config, data: second),
        ])
        storage.setHardState(HardState(term: 1, vote: 0, commit: 0))
        let node = TestNode(id: 2, voters: [1, 2, 3], storage: storage)
        node.node.campaign()
        #expect(node.raft.role == .follower)
        #expect(node.raft.log.committed == 1)
        node.drain()
        #expect(node.node.configuration.learnerIDs == [4])
        node.node.campaign()
        #expect(node.raft.role == .candidate, "only the last change may be uncommitted")
    }

    /// etcd#11038: a leader removed from the configuration that kept leading would drop every
    /// proposal. It steps down once its removal is applied, after asking the most up-to-date
    /// voter to campaign at once.
    @Test func aRemovedLeaderHandsLeadershipOverAndStepsDownOnceTheChangeCommits() throws {
        let net = try cluster(3)
        let index = try net[1].node.proposeConfigChange(ConfigChange([.remove(1)]))
        #expect(net[1].raft.role == .leader, "still leading while the change is not applied")
        var timeoutNowSent = false
        var inFlight = net[1].drain()
        for _ in 0..<20 where !inFlight.isEmpty {
            var next: [Message] = []
            for message in inFlight {
                if case .timeoutNow = message.body { timeoutNowSent = true }
                net[message.to].step(message)
                next += net[message.to].drain()
            }
            inFlight = next
        }
        #expect(net[1].raft.log.applied >= index)
        #expect(net[1].raft.role == .follower)
        #expect(timeoutNowSent)
        #expect(net[1].node.isRemoved)
        let leaders = [2, 3].filter { net[$0].raft.role == .leader }
        #expect(leaders.count == 1, "a voter took over at once")
        // The new leader applies the removal once an entry of its term commits.
        let next = try #require(leaders.first)
        try net[next].node.propose([1])
        net.deliver()
        #expect(net[next].node.voters == [2, 3])
    }

    /// A leader that proposed its own removal appends nothing after it (client proposals are
    /// dropped, retriable): once the removal commits, a voter holding it holds the leader's
    /// whole log, so the leader's vote is never needed for an election it could refuse (a
    /// longer log of uncommitted entries would refuse every voter that remains).
    @Test func aLeaderRemovingItselfAppendsNothingAfterTheChange() throws {
        let net = try cluster(2)
        net.drop = { $0.to == 2 }
        let index = try net[1].node.proposeConfigChange(ConfigChange([.remove(1)]))
        #expect(throws: RaftError.proposalDropped) { try net[1].node.propose([7]) }
        #expect(net[1].raft.log.lastIndex == index)
        net.drop = { _ in false }
        settle(net)
        #expect(net[2].node.voters == [2])
        net[2].timeOut()
        net.deliver()
        #expect(net[2].raft.role == .leader, "the voter that remains leads")
    }

    /// hashicorp/raft#524: a removed member that comes back with a higher term must not make
    /// anyone step down.
    @Test func aRemovedMembersMessagesNeverRaiseAnyonesTerm() throws {
        let net = try cluster(3)
        try propose(net, .remove(3))
        #expect(net[1].node.configuration.removedIDs == [3])
        let term = net[1].raft.term
        for body in [
            RaftMessage.requestVote(RequestVoteRequest(term: term + 100, candidateID: 3, lastLogIndex: 1000, lastLogTerm: term + 99)),
            .appendEntriesResponse(AppendEntriesResponse(term: term + 100, success: false)),
        ] {
            for receiver: UInt64 in [1, 2] {
                #expect(throws: RaftError.unknownPeer(3)) { try net[receiver].node.step(Message(from: 3, to: receiver, body: body)) }
                #expect(net[receiver].raft.term == term)
            }
        }
        #expect(net[1].raft.role == .leader)
    }

    @Test func anIDOnceRemovedIsNeverReused() throws {
        let net = try cluster(3)
        try propose(net, .remove(3))
        for step in [ConfigChangeStep.addVoter(Self.member(3)), .addLearner(Self.member(3, learner: true))] {
            let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([step])) }
            #expect(refused == .invalid("id 3 belonged to a removed member; ids are never reused"))
        }
    }

    @Test func removingTheLastVoterIsRefused() throws {
        let net = TestNetwork(1, bootstrap: true)
        net.elect(1)
        try net[1].node.propose([1])
        net.deliver()
        let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([.remove(1)])) }
        #expect(refused == .invalid("the change would remove the last voter"))
    }

    /// Messages from an id the applied configuration does not know yet are handled: a member
    /// added by a change this node has not applied may already lead.
    @Test func messagesFromMembersNotYetKnownAreAccepted() throws {
        let node = TestNode(id: 2, voters: [1, 2, 3])
        try node.node.step(
            Message(
                from: 4, to: 2,
                body: .appendEntries(AppendEntriesRequest(term: 5, leaderID: 4, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0))))
        #expect(node.raft.term == 5)
        #expect(node.raft.lead == 4)
    }

    // MARK: The strict reconfiguration check

    /// kubeadm#2997: a learner promoted before it caught up makes the cluster wait for it.
    @Test func promotingALearnerThatHasNotCaughtUpIsRefused() throws {
        let net = try cluster(3) { $0.maxPromotionLag = 5 }
        net.nodes[4] = TestNode(id: 4, voters: []) { $0.maxPromotionLag = 5 }
        net.drop = { $0.to == 4 || $0.from == 4 }
        try propose(net, .addLearner(Self.member(4, learner: true)))
        for i in 0..<10 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([.promote(4)])) }
        #expect(refused == .learnerBehind(id: 4, match: 0, lastIndex: net[1].raft.log.lastIndex))
        net.drop = { _ in false }
        net[1].tick()
        net.deliver()
        try propose(net, .promote(4))
        #expect(net[1].node.voters == [1, 2, 3, 4])
    }

    /// etcd#3477: adding voters that never start, or removing members that are up, must not
    /// leave the cluster without a reachable quorum.
    @Test func aChangeAfterWhichFewerVotersThanAQuorumWouldBeReachableIsRefused() throws {
        let net = try cluster(3)
        // 3 goes silent for longer than an election timeout.
        net.drop = { $0.to == 3 || $0.from == 3 }
        for _ in 0..<12 {
            net[1].tick()
            net.deliver()
        }
        // {1,2,3,4} needs 3 reachable voters; only 1 and 2 are.
        let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([.addVoter(Self.member(4))])) }
        guard case .quorumUnreachable(let text)? = refused else {
            Issue.record("expected quorumUnreachable, got \(String(describing: refused))")
            return
        }
        #expect(text.contains("2 of the voters 1, 2, 3, 4"))
        // Removing 2 (up) would leave {1,3}, of which only 1 is reachable.
        #expect(refusal { try net[1].node.proposeConfigChange(ConfigChange([.remove(2)])) } != nil)
        // Removing the silent member and adding learners are fine.
        try propose(net, .addLearner(Self.member(4, learner: true)))
        try propose(net, .remove(3))
        #expect(net[1].node.voters == [1, 2])
    }

    /// A leader elected without hearing from every voter (right after a transfer, the old
    /// leader's answer often comes first) does not yet know a silent voter is down: for an
    /// election timeout it refuses a change that needs that voter with a refusal the caller may
    /// retry, and once the voter answers the change goes through. Only a voter still silent an
    /// election timeout into the term makes the refusal final.
    @Test func aNewLeaderRefusesAChangeNeedingAVoterNotHeardYetOnlyForAMoment() throws {
        for voterAnswers in [true, false] {
            let net = TestNetwork(3, bootstrap: true)
            net.drop = { $0.to == 3 || $0.from == 3 }
            net.elect(1)
            try net[1].node.propose([0])
            net.deliver()
            #expect(net[1].raft.committedInTerm, "2's votes and acknowledgements suffice")
            // Removing 2 leaves {1, 3}: 3 has said nothing to this leader yet.
            let early = refusal { try net[1].node.proposeConfigChange(ConfigChange([.remove(2)])) }
            #expect(early == .votersNotHeardYet([3]))
            #expect(early?.isTransient == true)
            if voterAnswers {
                net.drop = { _ in false }
                net[1].tick()
                net.deliver()
                try propose(net, .remove(2))
                #expect(net[1].node.voters == [1, 3])
            } else {
                for _ in 0...net[1].raft.config.electionTick {
                    net[1].tick()
                    net.deliver()
                }
                let late = refusal { try net[1].node.proposeConfigChange(ConfigChange([.remove(2)])) }
                guard case .quorumUnreachable? = late else {
                    Issue.record("expected quorumUnreachable, got \(String(describing: late))")
                    continue
                }
                #expect(late?.isTransient == false)
            }
        }
    }

    /// A learner that was added but never started blocks nothing: the others commit as before,
    /// and it cannot be promoted.
    @Test func aLearnerAddedButNeverStartedBlocksNothingAndCannotBePromoted() throws {
        let net = try cluster(3)
        try propose(net, .addLearner(Self.member(4, learner: true)))
        for i in 0..<5 { try net[1].node.propose([UInt8(i)]) }
        net.deliver()
        #expect(net[1].raft.log.committed == net[1].raft.log.lastIndex)
        let refused = refusal { try net[1].node.proposeConfigChange(ConfigChange([.promote(4)])) }
        #expect(refused == .learnerBehind(id: 4, match: 0, lastIndex: net[1].raft.log.lastIndex))
    }

    // MARK: Learners

    @Test func learnersDoNotCountTowardCommitmentNorElections() throws {
        let net = try cluster(3)
        try addLearner(net, 4)
        try addLearner(net, 5)
        // With the voters 2 and 3 unreachable, the learners' acknowledgements commit nothing.
        net.drop = { [2, 3].contains($0.to) || [2, 3].contains($0.from) }
        let committed = net[1].raft.log.committed
        try net[1].node.propose([9])
        net.deliver()
        #expect(net[4].raft.log.lastIndex == net[1].raft.log.lastIndex, "learners receive the log")
        #expect(net[1].raft.log.committed == committed)
        // Nor do they elect: a candidate asks the voters only, and counts only voters' answers
        // (a learner asked anyway answers, see `Raft.handleRequestVote`).
        net.drop = { $0.from == 1 || $0.to == 1 || $0.to == 3 || $0.from == 3 }
        net[2].timeOut()
        let requests = net[2].drain().filter { $0.requestVote != nil }
        #expect(Set(requests.map(\.to)) == [1, 3])
        net.deliver()
        #expect(net[2].raft.role == .candidate)
        #expect(net[2].raft.quorum.voteResult([2: true, 4: true, 5: true]) == .pending)
    }

    // MARK: Joint consensus (§6)

    /// A replacement of one voter by another changes two voters: it enters C_old,new, in which
    /// entries commit only with a majority of the old voters and one of the new.
    @Test func jointConsensusCommitsOnlyWithMajoritiesOfBothTheOldAndTheNewVoters() throws {
        let net = try cluster(3)
        try addLearner(net, 4)
        // Only 1 and 3 talk: a majority of the old voters {1,2,3}, not of the new {1,2,4}.
        net.drop = { [2, 4].contains($0.to) || [2, 4].contains($0.from) }
        let joint = try net[1].node.proposeConfigChange(ConfigChange([.promote(4), .remove(3)]))
        net.deliver()
        #expect(net[1].raft.log.applied >= joint, "entering the joint state commits under the old voters")
        #expect(net[1].node.configuration.isJoint)
        #expect(net[1].node.configuration.voterIDs == [1, 2, 4])
        #expect(net[1].node.configuration.outgoingVoterIDs == [1, 2, 3])
        let committed = net[1].raft.log.committed
        try net[1].node.propose([1])
        net.deliver()
        #expect(net[1].raft.log.committed == committed, "no majority of the new voters")
        // With 4 back (and 2 still away), {1,4} and {1,3} are majorities of both.
        net.drop = { $0.to == 2 || $0.from == 2 }
        net[1].tick()
        net.deliver()
        #expect(net[1].raft.log.committed == net[1].raft.log.lastIndex)
    }

    @Test func jointQuorumArithmeticNeedsBothMajorities() {
        let joint = JointConfig(incoming: [1, 2, 4], outgoing: [1, 2, 3])
        #expect(joint.voteResult([1: true, 3: true]) == .pending)
        #expect(joint.voteResult([1: true, 4: true]) == .pending)
        #expect(joint.voteResult([1: true, 3: true, 4: true]) == .won)
        #expect(joint.voteResult([2: false, 3: false]) == .lost)
        #expect(joint.voteResult([2: false, 4: false]) == .lost)
        let match: [UInt64: UInt64] = [1: 9, 2: 2, 3: 8, 4: 5]
        #expect(joint.committedIndex { match[$0]! } == 5)
        #expect(joint.isQuorum([1, 3, 4]))
        #expect(joint.isQuorum([1, 2]))
        #expect(!joint.isQuorum([3, 4]))
        #expect(!joint.isQuorum([1, 3]))
    }

    @Test func jointConsensusElectsOnlyWithMajoritiesOfBothTheOldAndTheNewVoters() throws {
        let net = try cluster(3)
        try addLearner(net, 4)
        net.drop = { $0.to == 2 || $0.from == 2 }
        _ = try net[1].node.proposeConfigChange(ConfigChange([.promote(4), .remove(3)]))
        // Hold the automatic leave back: 1 goes away right after every member applied C_old,new.
        var inFlight = net[1].drain()
        while !inFlight.isEmpty {
            var next: [Message] = []
            for message in inFlight where !net.drop(message) {
                net[message.to].step(message)
                next += net[message.to].drain()
            }
            inFlight = next
            if [1, 3, 4].allSatisfy({ net[$0].node.configuration.isJoint }) { break }
        }
        #expect(net[3].node.configuration.isJoint)
        // 3 campaigns and only 4 answers: {3,4} is no majority of the new voters {1,2,4}, nor of
        // the old {1,2,3}.
        net.drop = { [1, 2].contains($0.to) || [1, 2].contains($0.from) }
        net[3].timeOut()
        net.deliver()
        #expect(net[3].raft.role == .candidate)
    }

    @Test func aJointConfigurationIsLeftAutomaticallyOnceApplied() throws {
        let net = try cluster(3)
        try addLearner(net, 4)
        let joint = try propose(net, .promote(4), .remove(3))
        for id: UInt64 in [1, 2, 4] {
            let configuration = net[id].node.configuration
            #expect(!configuration.isJoint, "member \(id)")
            #expect(configuration.voterIDs == [1, 2, 4])
            #expect(configuration.removedIDs == [3])
        }
        #expect(net[1].raft.log.lastIndex == joint + 1, "the leave entry follows the joint one")
    }

    /// etcd#12136: a leader that steps down before proposing the leave would leave the cluster
    /// joint for good; the next leader leaves it.
    @Test func aNewLeaderLeavesAJointConfigurationItInherited() throws {
        let net = try cluster(3)
        try addLearner(net, 4)
        let joint = try net[1].node.proposeConfigChange(ConfigChange([.promote(4), .remove(3)]))
        // Everyone applies C_old,new (heartbeats carry the commit index); the leave entry 1
        // appends right after never leaves it.
        net.drop = { $0.from == 1 && $0.appendEntries?.entries.contains { $0.index == joint + 1 } == true }
        net.deliver()
        for _ in 0..<3 {
            net[1].tick()
            net.deliver()
        }
        #expect(net[1].raft.log.lastIndex == joint + 1, "the leader proposed the leave")
        #expect([1, 2, 4].allSatisfy { net[$0].node.configuration.isJoint })
        net.drop = { $0.from == 1 || $0.to == 1 }
        net.elect(2)
        #expect(net[2].raft.role == .leader)
        net[2].tick()
        net.deliver()
        #expect(!net[2].node.configuration.isJoint)
        #expect(net[2].node.configuration.voterIDs == [1, 2, 4])
    }

    // MARK: Configurations in snapshots, restarts and bootstrap

    /// etcd#13741: a member that joins through a snapshot taken after several changes must end
    /// with the configuration as of the snapshot, not the one it started with.
    @Test func aMemberJoiningThroughASnapshotEndsWithTheConfigurationItCarries() throws {
        let net = try cluster(3)
        try addLearner(net, 4)
        try propose(net, .promote(4))
        try propose(net, .remove(2))
        try propose(net, .addLearner(Self.member(5, learner: true)))
        let leader = net[1]
        let applied = leader.raft.log.applied
        try leader.storage.createSnapshot(applied, data: [1, 2, 3], configuration: leader.node.configuration)
        try leader.storage.compact(applied)
        #expect(leader.storage.currentSnapshot.metadata.configuration.voterIDs == [1, 3, 4])
        net.nodes[5] = TestNode(id: 5, voters: [])
        leader.tick()
        net.deliver()
        #expect(net[5].storage.currentSnapshot.metadata.index == applied)
        #expect(net[5].node.configuration == leader.node.configuration)
        #expect(net[5].node.configuration.learnerIDs == [5])
        #expect(net[5].node.configuration.removedIDs == [2])

        // A restart recovers the configuration from the snapshot plus the log after it.
        try propose(net, .promote(5))
        leader.tick()
        net.deliver()
        let restarted = TestNode(id: 5, voters: [], storage: net[5].storage.copy())
        #expect(restarted.node.configuration.voterIDs == [1, 3, 4], "the snapshot's, until the log re-applies")
        restarted.drain()
        #expect(restarted.node.configuration.voterIDs == [1, 3, 4, 5])
    }

    @Test func bootstrapWritesTheFirstConfigurationIntoTheLog() throws {
        let storage = MemoryStorage()
        let node = try RawNode(config: Config(id: 2, voters: [], randomSeed: 1), storage: storage)
        try node.bootstrap([Self.member(3), Self.member(1), Self.member(2)])
        let ready = node.ready()
        #expect(ready.entries.map(\.index) == [1])
        #expect(ready.entries.allSatisfy { $0.type == .config && $0.term == 1 })
        #expect(ready.committedEntries.count == 1)
        #expect(ready.hardState == HardState(term: 1, vote: 0, commit: 1))
        try storage.append(ready.entries)
        storage.setHardState(ready.hardState!)
        node.advance(ready)
        #expect(node.configuration.voterIDs == [1, 2, 3])
        #expect(node.configuration.member(3)?.peerAddress == "10.0.0.3:7000")
        // Only once, and only on empty storage.
        #expect(throws: RaftError.self) { try node.bootstrap([Self.member(1)]) }
    }

    // MARK: Published records

    /// Members publish their client address and incarnation: a follower announces its own
    /// record in its AppendEntries answers while the configuration differs, and the leader
    /// records it; the leader records its own.
    @Test func membersPublishTheirClientAddressAndIncarnation() throws {
        func me(_ id: UInt64) -> Member { Member(id: id, clientAddress: "client-\(id):7100", incarnation: 1000 + id) }
        let net = try cluster(3) { $0.member = me($0.id) }
        for _ in 0..<4 {
            net[1].tick()
            net.deliver()
        }
        for id: UInt64 in 1...3 {
            let record = net[1].node.configuration.member(id)
            #expect(record?.clientAddress == "client-\(id):7100")
            #expect(record?.incarnation == 1000 + id)
            #expect(net[id].node.configuration == net[1].node.configuration)
        }
        // Once recorded, nothing more is announced.
        let last = net[1].raft.log.lastIndex
        net[1].tick()
        let answers = net.deliverCollecting()
        #expect(answers.allSatisfy { $0.appendEntriesResponse?.member == nil })
        #expect(net[1].raft.log.lastIndex == last)
    }

    /// A recorded incarnation is never replaced: a member that comes back with another one lost
    /// its data and is refused by the transport; the core never records it.
    @Test func aRecordedIncarnationIsNeverReplaced() throws {
        var configuration = Configuration(voters: [Member(id: 1, incarnation: 5)])
        #expect(throws: InvalidConfigChange.self) {
            configuration = try ConfigurationChanger.apply(ConfigChange([.update(Member(id: 1, incarnation: 6))]), to: configuration)
        }
        configuration = try ConfigurationChanger.apply(
            ConfigChange([.update(Member(id: 1, clientAddress: "a:1", incarnation: 5))]), to: configuration)
        #expect(configuration.member(1) == Member(id: 1, clientAddress: "a:1", incarnation: 5))
    }
}

extension TestNetwork {
    /// `deliver()`, returning every message delivered.
    func deliverCollecting() -> [Message] {
        let before = delivered.count
        deliver()
        return Array(delivered[before...])
    }
}
