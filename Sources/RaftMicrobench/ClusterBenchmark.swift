import NIOPosix
import RaftClient

/// Writes per second and latency percentiles against a running cluster's client port
/// (`raft-microbench cluster --endpoints ... --clients N --seconds S`): N clients, each writing
/// 256-byte values one at a time (a write is acknowledged once a majority has it durably).
/// A quick driver for the issue notes; `raft-bench` is the real tool.
enum ClusterBenchmark {
    static func run(endpoints: [String], clients: Int, seconds: Double, valueBytes: Int = 256) async -> [String] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(seconds * 1000))
        let start = clock.now
        let results = await withTaskGroup(of: ([Double], Int).self) { tasks in
            for c in 0..<clients {
                tasks.addTask {
                    let client = KVClient(endpoints: endpoints, group: group)
                    var latencies: [Double] = []
                    var failures = 0
                    var i = 0
                    while clock.now < deadline {
                        let began = clock.now
                        do {
                            let response = try await client.put(Array("bench-\(c)-\(i % 1000)".utf8), value)
                            if response.status == .ok {
                                let took = clock.now - began
                                latencies.append(Double(took.components.attoseconds) / 1e15 + Double(took.components.seconds) * 1e3)
                            } else {
                                failures += 1
                            }
                        } catch {
                            failures += 1
                        }
                        i += 1
                    }
                    await client.close()
                    return (latencies, failures)
                }
            }
            var all: [Double] = []
            var failures = 0
            for await (latencies, failed) in tasks {
                all += latencies
                failures += failed
            }
            return (all.sorted(), failures)
        }
        try? await group.shutdownGracefully()
        let elapsed = clock.now - start
        let secondsTaken = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let (latencies, failures) = results
        func percentile(_ p: Double) -> String {
            guard !latencies.isEmpty else { return "-" }
            let index = min(latencies.count - 1, Int(Double(latencies.count) * p))
            return String(Int(latencies[index] * 1000)) + " us"
        }
        return [
            "cluster.put clients=\(clients): \(Int(Double(latencies.count) / secondsTaken)) writes/s, p50 \(percentile(0.5)), p99 \(percentile(0.99)), p999 \(percentile(0.999)) (\(latencies.count) writes of \(valueBytes) B, \(failures) failed, \(Int(secondsTaken)) s)"
        ]
    }
}
