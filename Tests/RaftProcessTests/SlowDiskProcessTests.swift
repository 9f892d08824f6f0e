import Foundation
import RaftClient
import RaftMessages
import Testing

/// A member whose disk stalls, on real `raft-node` processes under write load: every fsync of its
/// write-ahead log takes 1.5 s longer (the `wal-fsync` failpoint, switched on by a file) — five
/// election timeouts. The loop keeps stepping while a write is in flight, so neither a slow
/// follower nor a slow leader makes anyone campaign, and no acknowledged write is lost.
@Suite(.serialized) struct SlowDiskProcessTests {
    static let stall = 1_500

    private static func cluster() async throws -> (ProcessCluster, (Int) -> URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("raft-slow-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let cluster = try await ProcessCluster(
            environment: ["RAFT_FAILPOINTS": "wal-fsync=\(stall)ms@\(root.path)/slow-{id}"])
        return (cluster, { root.appendingPathComponent("slow-\($0)") })
    }

    private static func terms(_ cluster: ProcessCluster) async -> Set<UInt64> {
        Set(await cluster.statuses().values.map(\.term))
    }

    /// Slows member `id`'s disk for `seconds` while the load runs; returns the writes
    /// acknowledged meanwhile.
    private static func stall(
        _ id: Int, for seconds: Double, cluster: ProcessCluster, load: WriteLoad, flag: (Int) -> URL
    ) async throws -> Int {
        let before = load.acknowledgedCount
        #expect(FileManager.default.createFile(atPath: flag(id).path, contents: nil))
        try await Task.sleep(for: .seconds(seconds))
        let during = load.acknowledgedCount - before
        try FileManager.default.removeItem(at: flag(id))
        return during
    }

    /// Runs `body` on a loaded cluster (4 writing clients) and checks afterwards that the
    /// leader and every term stayed the same and that no acknowledged write was lost.
    private static func underLoad(
        _ body: (_ cluster: ProcessCluster, _ leader: Int, _ load: WriteLoad, _ flag: (Int) -> URL) async throws -> Void
    ) async throws {
        let (cluster, flag) = try await Self.cluster()
        let leader = try await cluster.leader()
        let load = WriteLoad(cluster: cluster, endpoints: cluster.endpoints)
        try await cluster.waitUntil("writes flow") { load.acknowledgedCount > 50 }
        let termsBefore = await Self.terms(cluster)
        try await body(cluster, leader, load, flag)
        #expect(await Self.terms(cluster) == termsBefore, "no election:\n\(cluster.tails())")
        #expect(try await cluster.leader() == leader)
        let acknowledged = await load.stop()
        #expect(load.failureCount == 0)
        try await expectAllPresent(acknowledged, cluster: cluster)
        await cluster.shutdown()
    }

    @Test func aFollowerWhoseFsyncStallsTriggersNoElection() async throws {
        try await Self.underLoad { cluster, leader, load, flag in
            let follower = cluster.members.first { $0 != leader }!
            let changesBefore = try cluster.metrics(follower).sum("raft_leader_changes_seen_total")
            let during = try await Self.stall(follower, for: 5, cluster: cluster, load: load, flag: flag)
            #expect(during > 100, "the leader and the other follower go on committing")
            // It kept stepping its leader's heartbeats while its own writes stalled: it never
            // timed out, not even into a pre-vote (which forgets the leader).
            try await Task.sleep(for: .seconds(2))
            #expect(try cluster.metrics(follower).sum("raft_leader_changes_seen_total") == changesBefore)
        }
    }

    @Test func aLeaderWhoseFsyncStallsKeepsItsFollowersAndCommits() async throws {
        try await Self.underLoad { cluster, leader, load, flag in
            let commitBefore = try #require(await cluster.statuses()[leader]?.commitIndex)
            let during = try await Self.stall(leader, for: 5, cluster: cluster, load: load, flag: flag)
            // Heartbeats and appends leave while the leader's own write stalls: the followers
            // keep their leader and hold the entries, which commit with their copies alone; the
            // leader answers its clients as each slow write of its own ends.
            #expect(during > 0, "writes go on, a few per stalled fsync")
            #expect(try #require(await cluster.statuses()[leader]?.commitIndex) > commitBefore + UInt64(during))
        }
    }
}
