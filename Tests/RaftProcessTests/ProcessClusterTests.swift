import Foundation
import NIOConcurrencyHelpers
import RaftClient
import RaftMessages
import Testing

/// Real `raft-node` processes on loopback: the product as people run it.
@Suite(.serialized) struct ProcessClusterTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func aPutThroughAFollowerIsRedirectedAndReadableFromEveryMember() async throws {
        let cluster = try await ProcessCluster()
        defer { Task { await cluster.shutdown() } }
        let leader = try await cluster.leader()
        let follower = (1...3).first { $0 != leader }!
        let client = cluster.client([cluster.endpoint(follower)])
        let put = try await client.put(k("greeting"), k("hello"))
        #expect(put.status == .ok)
        for id in 1...3 {
            try await cluster.waitUntil("member \(id) applied the put") {
                try await client.localGet(k("greeting"), from: cluster.endpoint(id)).value == k("hello")
            }
        }
        await client.close()
        await cluster.shutdown()
    }

    /// raft-bench is how the performance figures are measured: both of its ways of driving the
    /// cluster must complete exactly the operations asked for, and the writes must be there.
    @Test func raftBenchCompletesItsCountAndItsWritesLand() async throws {
        let cluster = try await ProcessCluster()
        _ = try await cluster.leader()
        let bench = ProcessCluster.binaries.appendingPathComponent("raft-bench").path
        for mode in [[], ["--kvclient"]] {
            let (status, output) = try run(
                bench,
                ["--endpoints", cluster.endpoints.joined(separator: ","), "--clients", "4", "--count", "300",
                    "--keys", "10", "--warmup", "0", "--quiet"] + mode)
            #expect(status == 0, "raft-bench \(mode) exited \(status): \(output)")
            let result = output.split(separator: "\n").first { $0.hasPrefix("RESULT ") } ?? ""
            #expect(result.contains(" ops=300 ") && result.hasSuffix(" errors=0"), "\(mode): \(result)")
        }
        let client = cluster.client()
        for i in 0..<10 {
            let response = try await client.get(k("bench-0000000\(i)"))
            #expect(response.status == .ok && response.value.count == 256, "bench-0000000\(i): \(response.status)")
        }
        await client.close()
        await cluster.shutdown()
    }

    @Test func afterKillNineOfTheLeaderANewLeaderServesWithinFiveSecondsAndNothingAcknowledgedIsLost() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        let leader = try await cluster.leader()
        for i in 0..<30 { #expect(try await client.put(k("key\(i)"), k("value\(i)")).status == .ok) }
        cluster.kill9(leader)
        let killedAt = ContinuousClock.now
        let survivors = (1...3).filter { $0 != leader }
        let after = try await client.put(k("after-kill"), k("yes"))
        let failover = ContinuousClock.now - killedAt
        #expect(after.status == .ok)
        #expect(failover < .seconds(5), "next committed write \(failover) after kill -9")
        _ = try await cluster.leader(among: survivors)
        for i in 0..<30 { #expect(try await client.get(k("key\(i)")).value == k("value\(i)")) }
        // The killed member restarts from its data directory and catches up.
        try cluster.start(leader)
        try await cluster.waitUntil("the restarted member has the write made while it was dead") {
            (try? await client.localGet(k("after-kill"), from: cluster.endpoint(leader)).value) == k("yes")
        }
        await client.close()
        await cluster.shutdown()
    }

    @Test func aFollowerStoppedPastTheSnapshotCatchesUpThroughInstallSnapshot() async throws {
        let cluster = try await ProcessCluster(snapshotEntries: 50)
        let client = cluster.client()
        // Down until the appends queued for it before the leader compacted have expired: they
        // would otherwise still arrive and catch it up with entries.
        let (_, follower) = try await cluster.stopAFollowerPastTheSnapshot(writingWith: client)
        try cluster.start(follower)
        try await cluster.waitUntil("the follower caught up") {
            (try? await client.localGet(k("k299"), from: cluster.endpoint(follower)).value) == k("v299")
        }
        // Shown by the follower itself: it logged installing the leader's snapshot.
        #expect(cluster.log(follower).contains("installed a snapshot from the leader"), "\(cluster.tails())")
        let status = try await client.status(of: cluster.endpoint(follower))
        #expect(status.snapshotIndex >= 250)
        await client.close()
        await cluster.shutdown()
    }

    @Test func aWholeClusterRestartKeepsEveryAcknowledgedWriteAndSIGTERMExitsZero() async throws {
        let cluster = try await ProcessCluster(snapshotEntries: 40)
        let client = cluster.client()
        _ = try await cluster.leader()
        for i in 0..<100 { #expect(try await client.put(k("k\(i)"), k("v\(i)")).status == .ok) }
        for id in 1...3 { #expect(try await cluster.terminate(id) == 0, "SIGTERM exits 0") }
        for id in 1...3 { try cluster.start(id) }
        _ = try await cluster.leader()
        for i in 0..<100 { #expect(try await client.get(k("k\(i)")).value == k("v\(i)")) }
        // Each member restored its stored snapshot at start-up and reports its size.
        for id in 1...3 {
            let page = try cluster.metrics(id)
            #expect(page["raft_snapshot_index"] ?? 0 >= 80)
            #expect(page[#"raft_snapshot_bytes{form="compressed"}"#] ?? 0 > 0)
            #expect(page[#"raft_snapshot_bytes{form="raw"}"#] ?? 0 > 0)
        }
        await client.close()
        await cluster.shutdown()
    }

    /// Each client grows its own key one step at a time with compare-and-swap while the leader
    /// is killed under it. A write applied twice would make the client's retry fail its compare;
    /// a lost one would leave a gap. The kill must land while every client is mid-way, so that
    /// each has writes acknowledged by a new leader, elected while it ran.
    @Test func concurrentRetryingClientsApplyEveryWriteExactlyOnce() async throws {
        let cluster = try await ProcessCluster()
        let leader = try await cluster.leader()
        let oldTerm = try #require(await cluster.statuses(of: [leader])[leader]).term
        let clients = 6
        let steps = 40
        /// The last step each client had acknowledged.
        let acknowledged = NIOLockedValueBox([Int](repeating: 0, count: clients))
        let atKill = try await withThrowingTaskGroup(of: Void.self, returning: [Int].self) { group in
            for c in 0..<clients {
                group.addTask {
                    let client = cluster.client(timeout: 20)
                    defer { Task { await client.close() } }
                    var value = ""
                    #expect(try await client.compareAndSwap(Array("log-\(c)".utf8), expected: nil, value: Array("0".utf8)).status == .ok)
                    value = "0"
                    for step in 1...steps {
                        let next = value + ",\(step)"
                        let answer = try await client.compareAndSwap(Array("log-\(c)".utf8), expected: Array(value.utf8), value: Array(next.utf8))
                        guard answer.status == .ok else {
                            throw ClusterFailure(description: "client \(c) step \(step): \(answer.status) \(answer.error)")
                        }
                        value = next
                        acknowledged.withLockedValue { $0[c] = step }
                    }
                }
            }
            try await cluster.waitUntil("every client has a step acknowledged by the first leader") {
                acknowledged.withLockedValue { $0.allSatisfy { $0 >= 1 } }
            }
            cluster.kill9(leader)
            let atKill = acknowledged.withLockedValue { $0 }
            try await group.waitForAll()
            return atKill
        }
        // Every client was still writing when the leader died, and has finished since: its later
        // steps were acknowledged by a leader of a later term.
        #expect(atKill.allSatisfy { $0 < steps }, "steps acknowledged per client at the kill: \(atKill)")
        let survivors = (1...3).filter { $0 != leader }
        let newLeader = try await cluster.leader(among: survivors)
        let newTerm = try #require(await cluster.statuses(of: [newLeader])[newLeader]).term
        #expect(newTerm > oldTerm, "the new leader's term \(newTerm) follows the killed leader's \(oldTerm)")
        let reader = cluster.client()
        for c in 0..<clients {
            let expected = (0...steps).map(String.init).joined(separator: ",")
            #expect(try await reader.get(k("log-\(c)")).value == k(expected))
        }
        await reader.close()
        await cluster.shutdown()
    }

    @Test func aLeaderCutOffOnTheMinoritySideAcknowledgesNothingAndYieldsAfterHealing() async throws {
        let cluster = try await ProcessCluster(proxied: true)
        let client = cluster.client()
        let oldLeader = try await cluster.leader()
        #expect(try await client.put(k("before"), k("1")).status == .ok)
        let majority = (1...3).filter { $0 != oldLeader }
        cluster.partition(oldLeader, from: majority)

        // The cut-off leader takes a write but can never commit it: no acknowledgement, and no
        // linearizable read either.
        let minorityWrite = ClientRequest(
            requestID: 0, clientID: client.clientID, sequence: client.nextSequence(),
            operation: .put(key: k("contested"), value: k("minority")))
        let answer = try await client.sendOnce(minorityWrite, to: cluster.endpoint(oldLeader))
        #expect(answer.status != .ok, "minority leader acknowledged a write: \(answer)")
        let read = try await client.sendOnce(ClientRequest(requestID: 0, operation: .get(key: k("before"))), to: cluster.endpoint(oldLeader))
        #expect(read.status != .ok, "minority leader answered a linearizable read")

        // The majority elects a leader and serves.
        let newLeader = try await cluster.leader(among: majority)
        let majorityClient = cluster.client(majority.map { cluster.endpoint($0) })
        #expect(try await majorityClient.put(k("contested"), k("majority")).status == .ok)

        // After healing the old leader steps down and its uncommitted entry is replaced.
        cluster.healAll()
        try await cluster.waitUntil("the old leader follows the new one") {
            let status = try? await client.status(of: cluster.endpoint(oldLeader))
            return status?.role == "follower" && status?.leaderID == UInt64(newLeader)
        }
        try await cluster.waitUntil("the old leader's state holds the majority's write") {
            (try? await client.localGet(k("contested"), from: cluster.endpoint(oldLeader)).value) == k("majority")
        }
        #expect(try await client.get(k("contested")).value == k("majority"))
        await majorityClient.close()
        await client.close()
        await cluster.shutdown()
    }
}
