import Foundation
import RaftClient
import RaftMessages
import Testing

/// Planned leadership changes and reads on every member, on real `raft-node` processes under
/// write load: `move-leader`, SIGTERM on the leader (it hands over, then exits 0), a rolling
/// restart of every member, and linearizable reads answered by followers.
@Suite(.serialized) struct LeadershipProcessTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Waits until member `id` knows a leader and has applied what that leader had committed.
    private func waitCaughtUp(_ cluster: ProcessCluster, _ id: Int) async throws {
        var target: UInt64?
        try await cluster.waitUntil("member \(id) is back and caught up", seconds: 30) {
            let statuses = await cluster.statuses()
            guard let own = statuses[id], own.leaderID != 0, let leader = statuses[Int(own.leaderID)] else { return false }
            if target == nil { target = leader.commitIndex }
            return own.appliedIndex >= target!
        }
    }

    @Test func moveLeaderUnderWriteLoadFailsNoWrite() async throws {
        let cluster = try await ProcessCluster()
        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 50 }
        for _ in 0..<3 {
            let leader = try await cluster.leader()
            let target = cluster.members.first { $0 != leader }!
            let client = cluster.client()
            let moved = try await client.membership(.transferLeader(id: UInt64(target)))
            await client.close()
            #expect(moved.status == .ok, "\(moved.error)")
            #expect(try await cluster.leader() == target)
            let before = load.acknowledgedCount
            try await cluster.waitUntil("writes flow on") { load.acknowledgedCount > before + 50 }
        }
        let acknowledged = await load.stop()
        #expect(load.failureCount == 0)
        try await expectAllPresent(acknowledged, cluster: cluster)
        await cluster.shutdown()
    }

    /// A planned stop of the leader: it hands leadership to another voter before exiting, with
    /// status 0, and no client sees an error.
    @Test func sigtermOnTheLeaderHandsLeadershipOverAndExitsZero() async throws {
        let cluster = try await ProcessCluster()
        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 50 }
        let leader = try await cluster.leader()
        #expect(try await cluster.terminate(leader) == 0)
        let log = (try? String(contentsOf: cluster.logFile(leader), encoding: .utf8)) ?? ""
        #expect(log.contains("leads now"), "the leader did not hand over:\n\(cluster.tails())")
        let next = try await cluster.leader(among: cluster.members.filter { $0 != leader })
        #expect(next != leader)
        let before = load.acknowledgedCount
        try await cluster.waitUntil("writes flow on") { load.acknowledgedCount > before + 50 }
        try cluster.start(leader)
        try await waitCaughtUp(cluster, leader)
        let acknowledged = await load.stop()
        #expect(load.failureCount == 0)
        try await expectAllPresent(acknowledged, cluster: cluster)
        await cluster.shutdown()
    }

    /// Every member restarted in turn (an upgrade), the leader last: no client-visible error.
    @Test func aRollingRestartOfEveryMemberUnderWriteLoadFailsNoWrite() async throws {
        let cluster = try await ProcessCluster()
        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 50 }
        let leader = try await cluster.leader()
        for id in cluster.members.filter({ $0 != leader }) + [leader] {
            #expect(try await cluster.terminate(id) == 0)
            try cluster.start(id)
            try await waitCaughtUp(cluster, id)
            let before = load.acknowledgedCount
            try await cluster.waitUntil("writes flow after restarting \(id)") { load.acknowledgedCount > before + 20 }
        }
        let acknowledged = await load.stop()
        #expect(load.failureCount == 0)
        try await expectAllPresent(acknowledged, cluster: cluster)
        await cluster.shutdown()
    }

    /// A follower answers a linearizable read itself (no redirect), and the answer includes
    /// the write the leader acknowledged just before: the follower waits until it has applied
    /// the leader's commit index.
    @Test func aFollowerReadRightAfterAWriteThroughTheLeaderReturnsThatWrite() async throws {
        let cluster = try await ProcessCluster()
        let leader = try await cluster.leader()
        let followers = cluster.members.filter { $0 != leader }
        let writer = cluster.client([cluster.endpoint(leader)])
        for i in 0..<100 {
            let key = k("after-\(i % 7)")
            let value = k("v\(i)")
            let put = try await writer.put(key, value)
            #expect(put.status == .ok)
            let follower = cluster.endpoint(followers[i % followers.count])
            // During an election (a late heartbeat on a loaded machine) the follower answers
            // NOT_LEADER or TIMEOUT: no read index to wait for. Ask it again, a bounded number of times.
            let ask = { try await writer.sendOnce(ClientRequest(requestID: 1, operation: .get(key: key)), to: follower) }
            var read = try await ask()
            for _ in 0..<40 where read.status == .notLeader || read.status == .timeout {
                try await Task.sleep(for: .milliseconds(50))
                read = try await ask()
            }
            #expect(read.status == .ok, "\(read.status) \(read.error)")
            #expect(read.value == value, "read \(i) from \(follower) returned \(String(decoding: read.value, as: UTF8.self))")
        }
        await writer.close()
        await cluster.shutdown()
    }
}
