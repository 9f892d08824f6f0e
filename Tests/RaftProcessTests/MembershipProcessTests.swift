import Foundation
import NIOConcurrencyHelpers
import RaftClient
import RaftMessages
import Testing

/// Membership changes on real `raft-node` processes, under write load: the operations README's
/// "Operations" section describes, and the failures they must survive.
@Suite(.serialized) struct MembershipProcessTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func change(_ cluster: ProcessCluster, _ operation: KVOperation) async throws -> ClientResponse {
        let client = cluster.client(timeout: 20)
        defer { Task { await client.close() } }
        return try await client.membership(operation)
    }

    /// Adds a new member the way an operator does: start it with --join, add it as a learner,
    /// promote it once it has caught up (the leader refuses until then).
    private func addVoter(_ cluster: ProcessCluster) async throws -> Int {
        let id = try cluster.startNewMember()
        let added = try await change(cluster, .memberAdd(cluster.record(id)))
        #expect(added.status == .ok, "add \(id): \(added.error)")
        try await cluster.waitUntil("learner \(id) is promoted", seconds: 30) {
            try await change(cluster, .memberPromote(id: UInt64(id))).status == .ok
        }
        return id
    }

    @Test func growingFromThreeToFiveAndShrinkingBackUnderWriteLoadLosesNoAcknowledgedWrite() async throws {
        let cluster = try await ProcessCluster(snapshotEntries: 200)
        _ = try await cluster.leader()
        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 50 }
        let four = try await addVoter(cluster)
        let five = try await addVoter(cluster)
        var members = try await change(cluster, .memberList)
        #expect(members.configuration?.voterIDs == [1, 2, 3, UInt64(four), UInt64(five)])
        // Shrink back to three, removing the leader among others.
        let leader = try await cluster.leader()
        for id in [leader, (1...3).first { $0 != leader }!] {
            // The leader refuses a removal that would leave fewer reachable voters than a
            // quorum; on a loaded machine a member may miss a heartbeat round for a moment.
            var removed = try await change(cluster, .memberRemove(id: UInt64(id)))
            for _ in 0..<20 where removed.status == .error && removed.error.contains("would be reachable") {
                try await Task.sleep(for: .milliseconds(500))
                removed = try await change(cluster, .memberRemove(id: UInt64(id)))
            }
            #expect(removed.status == .ok, "remove \(id): \(removed.error)\n\(cluster.tails())")
            #expect(try await cluster.waitForExit(id) != 0, "a removed member exits non-zero")
            #expect(cluster.log(id).contains("removed"), "says it was removed:\n\(cluster.tails())")
            cluster.forget(id)
        }
        try await cluster.waitUntil("writes still flow") { load.acknowledgedCount > 400 }
        let acknowledged = await load.stop()
        members = try await change(cluster, .memberList)
        #expect(members.configuration?.voters.count == 3)
        #expect(members.members.allSatisfy { !$0.clientAddress.isEmpty }, "every member published its client address")
        try await expectAllPresent(acknowledged, cluster: cluster)
        await cluster.shutdown()
    }

    /// A member whose data directory was lost comes back empty under its old id: the cluster
    /// refuses it (it could vote twice in a term) and it exits saying to replace it; replacing
    /// it by a new member restores three voters.
    @Test func aMemberWhoseDiskWasWipedIsRefusedAndReplacedByANewMember() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        _ = try await cluster.leader()
        for i in 0..<20 { #expect(try await client.put(k("k\(i)"), k("v\(i)")).status == .ok) }
        // Its incarnation is in the configuration once it reported it.
        try await cluster.waitUntil("every member's incarnation is recorded") {
            let list = try await change(cluster, .memberList)
            return list.members.count == 3 && list.members.allSatisfy { $0.incarnation != 0 }
        }
        let wiped = 3
        cluster.kill9(wiped)
        try cluster.wipe(wiped)
        try cluster.start(wiped)
        #expect(try await cluster.waitForExit(wiped) != 0)
        #expect(cluster.log(wiped).contains("replace it with a new member"), "\(cluster.tails())")
        cluster.forget(wiped)

        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        let replacement = try cluster.startNewMember()
        #expect(try await change(cluster, .memberAdd(cluster.record(replacement))).status == .ok)
        try await cluster.waitUntil("the learner replaces the lost member", seconds: 30) {
            try await change(cluster, .memberReplace(oldID: UInt64(wiped), newID: UInt64(replacement))).status == .ok
        }
        let list = try await change(cluster, .memberList)
        #expect(list.configuration?.voterIDs == [1, 2, UInt64(replacement)])
        #expect(list.configuration?.removedIDs == [UInt64(wiped)])
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 100 }
        let acknowledged = await load.stop()
        for i in 0..<20 { #expect(try await client.get(k("k\(i)")).value == k("v\(i)")) }
        try await expectAllPresent(acknowledged, cluster: cluster)
        await client.close()
        await cluster.shutdown()
    }

    /// A learner added but never started blocks nothing (learners do not count toward commit)
    /// and cannot be promoted (the leader refuses a learner that has not caught up).
    @Test func aLearnerAddedButNeverStartedBlocksNothingAndCannotBePromoted() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        _ = try await cluster.leader()
        let ghost = Member(id: 9, peerAddress: "127.0.0.1:1", learner: true)
        #expect(try await change(cluster, .memberAdd(ghost)).status == .ok)
        for i in 0..<20 { #expect(try await client.put(k("k\(i)"), k("v\(i)")).status == .ok) }
        let promoted = try await change(cluster, .memberPromote(id: 9))
        #expect(promoted.status == .error)
        #expect(promoted.error.contains("has not caught up"), "\(promoted.error)")
        // Voters that were never started are added only while the reachable voters still make a
        // quorum (etcd's strict reconfiguration check): 3 of 4, 3 of 5, but not 3 of 6.
        for id: UInt64 in [10, 11] {
            let added = try await change(cluster, .memberAdd(Member(id: id, peerAddress: "127.0.0.1:1")))
            #expect(added.status == .ok, "\(added.error)")
        }
        let refused = try await change(cluster, .memberAdd(Member(id: 12, peerAddress: "127.0.0.1:1")))
        #expect(refused.status == .error && refused.error.contains("would be reachable"), "\(refused.error)")
        // Nor may a member that is up be removed now: 2 of {1,2,10,11} would be no quorum.
        let leader = try await cluster.leader()
        let follower = (1...3).first { $0 != leader }!
        let removal = try await change(cluster, .memberRemove(id: UInt64(follower)))
        #expect(removal.status == .error && removal.error.contains("would be reachable"), "\(removal.error)")
        #expect(try await client.put(k("still"), k("writable")).status == .ok)
        await client.close()
        await cluster.shutdown()
    }

    /// A member removed while it was down, restarted on its old data, still believes it is a
    /// voter: its votes are refused, it exits, and the leader keeps its term.
    @Test func aRemovedMemberRestartedOnItsOldDataCannotDisruptTheCluster() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        let leader = try await cluster.leader()
        let victim = (1...3).first { $0 != leader }!
        #expect(try await client.put(k("before"), k("1")).status == .ok)
        cluster.kill9(victim)
        #expect(try await change(cluster, .memberRemove(id: UInt64(victim))).status == .ok)
        for i in 0..<20 { #expect(try await client.put(k("k\(i)"), k("v\(i)")).status == .ok) }
        let term = try await client.status(of: cluster.endpoint(leader)).term
        try cluster.start(victim)
        #expect(try await cluster.waitForExit(victim) != 0)
        #expect(cluster.log(victim).contains("was removed from the cluster"), "\(cluster.tails())")
        cluster.forget(victim)
        let status = try await client.status(of: cluster.endpoint(leader))
        #expect(status.role == "leader" && status.term == term, "the removed member disrupted the leader: \(status)")
        #expect(try await client.put(k("after"), k("1")).status == .ok)
        await client.close()
        await cluster.shutdown()
    }

    /// `move-leader` hands leadership over on purpose; asking the leader to remove itself hands
    /// over first, and the new leader removes it.
    @Test func removingTheLeaderHandsOverAndTheClusterKeepsServing() async throws {
        let cluster = try await ProcessCluster()
        let leader = try await cluster.leader()
        let target = (1...3).first { $0 != leader }!
        let moved = try await change(cluster, .transferLeader(id: UInt64(target)))
        #expect(moved.status == .ok, "\(moved.error)")
        #expect(try await cluster.leader() == target)
        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 50 }
        let removed = try await change(cluster, .memberRemove(id: UInt64(target)))
        #expect(removed.status == .ok, "\(removed.error)")
        #expect(try await cluster.waitForExit(target) != 0)
        cluster.forget(target)
        let next = try await cluster.leader()
        #expect(next != target)
        try await cluster.waitUntil("writes flow on") { load.acknowledgedCount > 200 }
        let acknowledged = await load.stop()
        try await expectAllPresent(acknowledged, cluster: cluster)
        await cluster.shutdown()
    }
}
