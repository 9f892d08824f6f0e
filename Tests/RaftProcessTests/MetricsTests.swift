import Foundation
import RaftClient
import RaftMessages
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The metrics page of real members, checked with Prometheus's own tools.
@Suite(.serialized) struct MetricsTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func everyPagePassesPromtoolAndTheMembersAgree() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        for i in 0..<20 { #expect(try await client.put(k("k\(i)"), k("v")).status == .ok) }
        // The member that leads now (the client follows the leader if a late heartbeat moved it).
        let leader = try await cluster.leader()
        // Heartbeats go out every 50 ms with no writes: the count of AppendEntries sent grows.
        let sentBefore = try cluster.metrics(leader).sum("raft_rpc_sent_total", [#"rpc="append_entries""#])
        try await cluster.waitUntil("the leader sends more AppendEntries (heartbeats)") {
            try cluster.metrics(leader).sum("raft_rpc_sent_total", [#"rpc="append_entries""#]) > sentBefore
        }
        var terms: Set<Double> = []
        var leaders = 0
        for id in 1...3 {
            let page = try cluster.metrics(id)
            let check = try run("/usr/bin/promtool", ["check", "metrics"], stdin: page.text)
            #expect(check.status == 0, "promtool check metrics on member \(id): \(check.output)")
            terms.insert(try #require(page["raft_term"]))
            if page[#"raft_state{state="leader"}"#] == 1 { leaders += 1 }
            #expect(page[#"raft_node_info{id="\#(id)",cluster="process-test",version="0.1.0"}"#] == 1)
            #expect(page.sum("process_resident_memory_bytes") > 0)
        }
        #expect(terms.count == 1, "raft_term agrees: \(terms)")
        #expect(leaders == 1)
        #expect(try cluster.metrics(leader).sum("raft_proposals_committed_total") >= 20)
        #expect(try cluster.metrics(leader).sum("raft_commit_duration_seconds_count") >= 20)
        // /healthz: 200 with a leader known.
        #expect(try httpGet(port: cluster.metricsPorts[0], path: "/healthz").status == 200)
        await client.close()
        await cluster.shutdown()
    }

    @Test func electionsAndLeaderChangesAreCountedOnTheSurvivorsOfALeaderKill() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        let leader = try await cluster.leader()
        let survivors = (1...3).filter { $0 != leader }
        let killed = #"peer="\#(leader)""#
        var before: [Int: (elections: Double, changes: Double, failures: Double)] = [:]
        for id in survivors {
            let page = try cluster.metrics(id)
            before[id] = (
                page.sum("raft_elections_started_total"), page.sum("raft_leader_changes_seen_total"),
                page.sum("raft_rpc_failures_total", [killed])
            )
        }
        cluster.kill9(leader)
        #expect(try await client.put(k("after"), k("kill")).status == .ok)
        let newLeader = try await cluster.leader(among: survivors)
        var elections = 0.0
        for id in survivors {
            let page = try cluster.metrics(id)
            elections += page.sum("raft_elections_started_total") - before[id]!.elections
            #expect(page.sum("raft_leader_changes_seen_total") > before[id]!.changes, "member \(id) saw the change")
        }
        #expect(elections >= 1)
        // The new leader keeps sending heartbeats to the killed member: none can be delivered, and
        // each is counted as a failed RPC to that peer (dropped unsent after the queue delay).
        try await cluster.waitUntil("the new leader counts failed RPCs to the killed member") {
            try cluster.metrics(newLeader).sum("raft_rpc_failures_total", [killed]) > before[newLeader]!.failures
        }
        await client.close()
        await cluster.shutdown()
    }

    @Test func aFollowerKeptBehindShowsLagUntilItCatchesUpThroughASnapshot() async throws {
        let cluster = try await ProcessCluster(snapshotEntries: 50)
        let client = cluster.client()
        let firstLeader = try await cluster.leader()
        let follower = (1...3).first { $0 != firstLeader }!
        #expect(try await cluster.terminate(follower) == 0)
        for i in 0..<150 { #expect(try await client.put(k("k\(i)"), k("v")).status == .ok) }
        let writesEnded = ContinuousClock.now
        // The member that leads now (the client follows the leader if a late heartbeat moved it).
        let leader = try await cluster.leader(among: (1...3).filter { $0 != follower })
        let behind = try cluster.metrics(leader)
        #expect(behind[#"raft_follower_lag_entries{peer="\#(follower)"}"#] ?? 0 > 0, "the leader sees the lag")
        #expect(behind.sum("raft_snapshots_created_total") >= 1)
        #expect(behind[#"raft_snapshot_bytes{form="compressed"}"#] ?? 0 > 0)
        #expect(behind[#"raft_snapshot_bytes{form="raw"}"#] ?? 0 > 0)
        // Stay down until the appends queued for it before the leader compacted have expired:
        // they would otherwise still arrive and catch it up with entries.
        try await cluster.waitUntilQueuedRequestsExpire(for: follower, at: leader, queuedBy: writesEnded)
        try cluster.start(follower)
        try await cluster.waitUntil("the leader sees the follower caught up") {
            (try? cluster.metrics(leader)[#"raft_follower_lag_entries{peer="\#(follower)"}"#]) == 0
        }
        try await cluster.waitUntil("the follower counts the installed snapshot and no commit lag") {
            guard let page = try? cluster.metrics(follower) else { return false }
            return page.sum("raft_snapshots_installed_total") >= 1 && page["raft_commit_lag_entries"] == 0
                && page["raft_apply_lag_entries"] == 0
        }
        // The transfer on both ends: its bytes and its duration; none left in flight.
        let received = try cluster.metrics(follower)
        #expect(received.sum("raft_snapshot_transfer_duration_seconds_count", [#"side="receive""#]) >= 1)
        #expect(received.sum("raft_snapshot_transfer_bytes_total", [#"direction="received""#]) > 0)
        #expect(received.sum("raft_snapshot_duration_seconds_count", [#"op="restore""#]) >= 1)
        try await cluster.waitUntil("the leader counts the transfer it ran") {
            guard let sent = try? cluster.metrics(leader) else { return false }
            return sent.sum("raft_snapshot_transfer_duration_seconds_count", [#"side="send""#]) >= 1
                && sent.sum("raft_snapshot_transfer_bytes_total", [#"direction="sent""#]) > 0
                && sent["raft_snapshot_transfers_in_flight"] == 0
                && sent.sum("raft_snapshot_duration_seconds_count", [#"op="create""#]) >= 1
        }
        await client.close()
        await cluster.shutdown()
    }

    /// The configuration on the page: voters and learners, a learner's lag on the leader (what
    /// the RaftLearnerBehind alert watches), changes applied on every member.
    @Test func theConfigurationAndALearnersLagAreOnThePage() async throws {
        let cluster = try await ProcessCluster()
        let client = cluster.client()
        let leader = try await cluster.leader()
        for i in 0..<10 { #expect(try await client.put(k("k\(i)"), k("v")).status == .ok) }
        let before = try cluster.metrics(leader).sum("raft_config_changes_applied_total")
        // A learner that never starts: it stays behind.
        let added = try await client.membership(.memberAdd(Member(id: 9, peerAddress: "127.0.0.1:1", learner: true)))
        #expect(added.status == .ok)
        try await cluster.waitUntil("every member applied the change, the leader tracks the learner") {
            try (1...3).allSatisfy { try cluster.metrics($0)["raft_config_learners"] == 1 }
                && cluster.metrics(leader)[#"raft_learner_lag_entries{peer="9"}"#] != nil
        }
        let page = try cluster.metrics(leader)
        #expect(page["raft_config_voters"] == 3)
        #expect(page["raft_config_joint"] == 0)
        #expect(page["raft_is_learner"] == 0)
        #expect(page.sum("raft_config_changes_applied_total") > before)
        #expect(page[#"raft_learner_lag_entries{peer="9"}"#] ?? 0 > 0, "the leader sees how far the learner is behind")
        #expect(page[#"raft_follower_lag_entries{peer="9"}"#] == nil, "a learner's lag is not a follower's")
        await client.close()
        await cluster.shutdown()
    }

    @Test func badFramesOnEitherPortAreCounted() async throws {
        let cluster = try await ProcessCluster()
        _ = try await cluster.leader()
        for port in [cluster.clientPorts[0], cluster.peerPorts[0]] {
            // A zero-length frame: a protocol error on both ports.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let zero: [UInt8] = [0, 0, 0, 0]
            _ = zero.withUnsafeBytes { send(fd, $0.baseAddress, 4, 0) }
            var byte: UInt8 = 0
            _ = recv(fd, &byte, 1, 0)  // returns when the node closes the connection
            close(fd)
        }
        try await cluster.waitUntil("both ports counted their bad frame") {
            let page = try cluster.metrics(1)
            return page[#"raft_malformed_frames_total{port="client"}"#] == 1
                && page[#"raft_malformed_frames_total{port="peer"}"#] == 1
        }
        await cluster.shutdown()
    }

    /// deploy/prometheus.yml and deploy/alerts.yml as shipped, with the local cluster's metrics
    /// ports (7201-7203) swapped for this cluster's: a real Prometheus scrapes every member.
    @Test func aRealPrometheusWithTheShippedConfigScrapesEveryMember() async throws {
        let cluster = try await ProcessCluster()
        _ = try await cluster.leader()
        let port = try ProcessCluster.freePorts(1)[0]
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy")
        var shipped = try String(contentsOf: deploy.appendingPathComponent("prometheus.yml"), encoding: .utf8)
        for (i, metricsPort) in cluster.metricsPorts.enumerated() {
            let local = "127.0.0.1:\(7201 + i)"
            #expect(shipped.contains(local), "deploy/prometheus.yml scrapes \(local)")
            shipped = shipped.replacingOccurrences(of: local, with: "127.0.0.1:\(metricsPort)")
        }
        let config = cluster.root.appendingPathComponent("prometheus.yml")
        try shipped.write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: deploy.appendingPathComponent("alerts.yml"), to: cluster.root.appendingPathComponent("alerts.yml"))
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(cluster.root.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(port)",
        ]
        let log = cluster.root.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        prometheus.standardOutput = try FileHandle(forWritingTo: log)
        prometheus.standardError = prometheus.standardOutput
        try prometheus.run()
        defer {
            kill(prometheus.processIdentifier, SIGKILL)
            prometheus.waitUntilExit()
        }
        func query(_ q: String) throws -> [[String: Any]] {
            let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
            let (status, body) = try httpGet(port: port, path: "/api/v1/query?query=\(encoded)")
            guard status == 200, let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
            else { throw ClusterFailure(description: "Prometheus query \(q) answered \(status): \(body.prefix(300))") }
            return result
        }
        try await cluster.waitUntil("Prometheus reports up = 1 for every member", seconds: 30) {
            let up = (try? query("up{job=\"raft\"}")) ?? []
            return up.count == 3 && up.allSatisfy { (($0["value"] as? [Any])?.last as? String) == "1" }
        }
        try await cluster.waitUntil("Prometheus has the raft_term series", seconds: 30) {
            ((try? query("raft_term")) ?? []).count == 3
        }
        let scraped = Date().timeIntervalSince1970
        let alerts = try String(contentsOf: deploy.appendingPathComponent("alerts.yml"), encoding: .utf8)
        let ruleGroups = alerts.split(separator: "\n").filter { $0.hasPrefix("  - name: ") }.count
        #expect(ruleGroups > 0)
        // The shipped alert rules loaded, and a healthy cluster fires none of the critical ones
        // once every rule has been evaluated on the members' samples (an evaluation before the
        // first scrape has RaftTargetsMissing pending).
        let (status, rules) = try httpGet(port: port, path: "/api/v1/rules")
        #expect(status == 200 && rules.contains("RaftNoLeader") && rules.contains("RaftSplitBrain"))
        try await cluster.waitUntil("Prometheus evaluated every rule group after scraping the members", seconds: 30) {
            guard let (status, body) = try? httpGet(port: port, path: "/metrics"), status == 200 else { return false }
            let evaluated = MetricsPage(text: body).samples.filter {
                $0.key.hasPrefix("prometheus_rule_group_last_evaluation_timestamp_seconds{")
            }
            return evaluated.count == ruleGroups && evaluated.values.allSatisfy { $0 > scraped }
        }
        let critical = try query(#"ALERTS{severity="critical"}"#)
        #expect(critical.isEmpty, "critical alerts pending or firing on a healthy cluster: \(critical)")
        await cluster.shutdown()
    }
}
