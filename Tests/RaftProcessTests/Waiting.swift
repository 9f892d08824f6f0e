import RaftClient
import Testing

/// How long a member's transport keeps a request queued for a peer it cannot reach before it
/// drops the request rather than send it late: `PeerTransportConfiguration.maximumQueueDelay`,
/// which raft-node runs with (this target reaches members only through their ports).
let peerQueueDelay: Duration = .seconds(2)

extension ProcessCluster {
    /// Stops a follower (SIGTERM), commits 300 writes through `client` while it is down (past a
    /// snapshot when snapshots come every 50 entries), and waits until nothing queued for it can
    /// catch it up with entries: restarted, it needs the leader's snapshot.
    func stopAFollowerPastTheSnapshot(writingWith client: KVClient) async throws -> (leader: Int, follower: Int) {
        let leader = try await self.leader()
        let follower = (1...3).first { $0 != leader }!
        #expect(try await terminate(follower) == 0)
        for i in 0..<300 { #expect(try await client.put(Array("k\(i)".utf8), Array("v\(i)".utf8)).status == .ok) }
        // The client follows the leader; on a loaded machine leadership may have moved meanwhile,
        // and only the member that leads now keeps queueing (and dropping) requests for the follower.
        let current = try await self.leader(among: (1...3).filter { $0 != follower })
        try await waitUntilQueuedRequestsExpire(for: follower, at: current, queuedBy: .now)
        return (current, follower)
    }

    /// Waits (bounded) until nothing `leader` queued for the stopped member `stopped` up to
    /// `queuedBy` can reach it any more once it restarts, so that it must catch up from the
    /// leader's snapshot rather than from AppendEntries queued before the leader compacted.
    ///
    /// Seen on the leader's page: once the queue delay has passed since `queuedBy`, its
    /// `raft_rpc_failures_total` for `stopped` rises further. Requests to an unreachable peer are
    /// dropped oldest first, each pass taking every request older than the queue delay, so a
    /// drop counted after that moment means every request queued by `queuedBy` is gone.
    /// (Heartbeats, queued every 50 ms meanwhile, each start such a pass.)
    func waitUntilQueuedRequestsExpire(
        for stopped: Int, at leader: Int, queuedBy: ContinuousClock.Instant, seconds: Double = 10
    ) async throws {
        let expired = queuedBy + peerQueueDelay
        try await waitUntil("the queue delay passed since requests to \(stopped) were queued", seconds: seconds) {
            ContinuousClock.now > expired
        }
        let failures = { try await self.securedMetrics(leader).sum("raft_rpc_failures_total", [#"peer="\#(stopped)""#]) }
        let atExpiry = try await failures()
        try await waitUntil("member \(leader) drops a request for the stopped member \(stopped) as undeliverable") {
            try await failures() > atExpiry
        }
    }
}
