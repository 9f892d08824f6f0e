import RaftCore
import RaftMetrics
import RaftNode
import RaftTransport

/// What a scrape costs: rendering a 5-member node's page, after traffic filled every family.
enum MetricsBenchmark {
    static func run(renders: Int = 2_000) -> [String] {
        let metrics = RaftMetrics(id: 1, clusterID: "bench", peers: [1, 2, 3, 4, 5])
        for i in 0..<10_000 {
            let peer = UInt64(2 + i % 4)
            metrics.frameSent(to: peer, rpc: .appendEntries, isRequest: true, bytes: 300)
            metrics.rpcCompleted(.appendEntries, peer: peer, latency: .microseconds(Int64(200 + i % 5_000)))
            metrics.proposalCommitted(after: .microseconds(Int64(500 + i % 20_000)))
            metrics.walSynced(after: .microseconds(Int64(100 + i % 3_000)))
        }
        let clock = ContinuousClock()
        var bytes = 0
        let elapsed = clock.measure {
            for _ in 0..<renders { bytes = metrics.render().count }
        }
        let micros = (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12) / Double(renders)
        // Observing is on the hot path: cost of one counter update plus one histogram record.
        let observations = 1_000_000
        let observing = clock.measure {
            for i in 0..<observations {
                metrics.frameSent(to: 2, rpc: .appendEntries, isRequest: true, bytes: 300)
                metrics.proposalCommitted(after: .microseconds(Int64(i % 10_000)))
            }
        }
        let perObservation = (Double(observing.components.seconds) * 1e9 + Double(observing.components.attoseconds) / 1e9) / Double(observations)
        return [
            "metrics.render 5 members: \(Int(micros)) us per page (\(bytes) bytes, \(renders) renders)",
            "metrics.observe: \(Int(perObservation)) ns per proposal (a counter increment, a bytes counter, a histogram record and a counter)",
        ]
    }
}
