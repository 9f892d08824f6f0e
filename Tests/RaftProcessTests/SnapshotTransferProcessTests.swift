import Foundation
import RaftClient
import RaftMessages
import Testing

/// InstallSnapshot interrupted, on real `raft-node` processes: the follower's storing of the
/// leader's snapshot is held up (the `snapshot-fsync` failpoint, switched on by a file) and then
/// the follower is killed, or the leader changes; either way the follower must end with every
/// write and leave no partial snapshot file behind.
@Suite(.serialized) struct SnapshotTransferProcessTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A follower stopped while 300 writes went by (past the leader's snapshot and the
    /// transport's queue delay, so that it needs the snapshot), restarted with a disk that
    /// holds every snapshot fsync for `stall` ms, and seen receiving the snapshot (its partial
    /// file exists). `flag` is the file that slows its disk.
    private struct Receiving {
        let cluster: ProcessCluster
        let client: KVClient
        let leader: Int
        let follower: Int
        let flag: URL
    }

    private func followerReceivingASnapshot(stall: Int, root: URL) async throws -> Receiving {
        let cluster = try await ProcessCluster(
            snapshotEntries: 50, environment: ["RAFT_FAILPOINTS": "snapshot-fsync=\(stall)ms@\(root.path)/slow-{id}"])
        let client = cluster.client()
        let (leader, follower) = try await cluster.stopAFollowerPastTheSnapshot(writingWith: client)
        let flag = root.appendingPathComponent("slow-\(follower)")
        #expect(FileManager.default.createFile(atPath: flag.path, contents: nil))
        try cluster.start(follower)
        try await cluster.waitUntil("the follower receives the snapshot") { partialSnapshots(cluster, follower) > 0 }
        return Receiving(cluster: cluster, client: client, leader: leader, follower: follower, flag: flag)
    }

    private func partialSnapshots(_ cluster: ProcessCluster, _ id: Int) -> Int {
        let snap = cluster.dataDirectory(id).appendingPathComponent("snap")
        return ((try? FileManager.default.contentsOfDirectory(atPath: snap.path)) ?? []).filter { $0.hasSuffix(".tmp") }.count
    }

    /// Every write through `count` reads back from the follower itself, and no partial file is left.
    private func expectCaughtUp(_ r: Receiving, through count: Int) async throws {
        try await r.cluster.waitUntil("the follower caught up", seconds: 20) {
            (try? await r.client.localGet(k("k\(count - 1)"), from: r.cluster.endpoint(r.follower)).value) == k("v\(count - 1)")
        }
        for i in stride(from: 0, to: count, by: 7) {
            #expect(try await r.client.localGet(k("k\(i)"), from: r.cluster.endpoint(r.follower)).value == k("v\(i)"))
        }
        try await r.cluster.waitUntil("no partial snapshot left") { partialSnapshots(r.cluster, r.follower) == 0 }
    }

    @Test func aFollowerKilledWhileStoringTheLeadersSnapshotCatchesUpCleanly() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("raft-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let r = try await followerReceivingASnapshot(stall: 5_000, root: root)
        try await Task.sleep(for: .milliseconds(500))
        r.cluster.kill9(r.follower)
        // Restarted on a healthy disk: the transfer starts over and completes.
        try FileManager.default.removeItem(at: r.flag)
        try r.cluster.start(r.follower)
        try await expectCaughtUp(r, through: 300)
        #expect(r.cluster.log(r.follower).contains("installed a snapshot from the leader"))
        await r.client.close()
        await r.cluster.shutdown()
    }

    @Test func aLeaderChangeDuringASnapshotTransferLeavesTheFollowerConsistent() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("raft-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let r = try await followerReceivingASnapshot(stall: 3_000, root: root)
        let other = (1...3).first { $0 != r.leader && $0 != r.follower }!
        let moved = try await r.client.membership(.transferLeader(id: UInt64(other)))
        #expect(moved.status == .ok, "\(moved.error)")
        for i in 300..<350 { #expect(try await r.client.put(k("k\(i)"), k("v\(i)")).status == .ok) }
        try FileManager.default.removeItem(at: r.flag)
        try await expectCaughtUp(r, through: 350)
        await r.client.close()
        await r.cluster.shutdown()
    }
}
