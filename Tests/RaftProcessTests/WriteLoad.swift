import NIOConcurrencyHelpers
import RaftClient
import Testing

/// Clients writing one key after another for as long as it runs; every acknowledged write is
/// recorded so that a test can check, at the end, that none was lost.
final class WriteLoad: Sendable {
    private let acknowledged = NIOLockedValueBox<[String: String]>([:])
    private let stopped = NIOLockedValueBox(false)
    private let failures = NIOLockedValueBox(0)
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])

    /// `clients` writers, each with its own KVClient on `endpoints`.
    init(cluster: ProcessCluster, endpoints: [String], clients: Int = 4) {
        for c in 0..<clients {
            let client = cluster.client(endpoints, timeout: 20)
            let task = Task { [acknowledged, stopped, failures] in
                var i = 0
                while !stopped.withLockedValue({ $0 }) {
                    let key = "load-\(c)-\(i)"
                    let value = "v\(i)"
                    if let answer = try? await client.put(Array(key.utf8), Array(value.utf8)), answer.status == .ok {
                        acknowledged.withLockedValue { $0[key] = value }
                    } else {
                        failures.withLockedValue { $0 += 1 }
                    }
                    i += 1
                }
                await client.close()
            }
            tasks.withLockedValue { $0.append(task) }
        }
    }

    /// Stops the writers; returns what they got acknowledged.
    func stop() async -> [String: String] {
        stopped.withLockedValue { $0 = true }
        for task in tasks.withLockedValue({ $0 }) { await task.value }
        return acknowledged.withLockedValue { $0 }
    }

    var acknowledgedCount: Int { acknowledged.withLockedValue { $0.count } }
    /// Writes that failed: the call threw (no answer within the client's timeout, retries
    /// included) or was answered with an error.
    var failureCount: Int { failures.withLockedValue { $0 } }
}

/// Every acknowledged write reads back (linearizably) after everything.
func expectAllPresent(_ acknowledged: [String: String], cluster: ProcessCluster) async throws {
    let reader = cluster.client()
    var missing: [String] = []
    for (key, value) in acknowledged {
        let answer = try await reader.get(Array(key.utf8))
        if answer.status != .ok || answer.value != Array(value.utf8) {
            missing.append("\(key): \(answer.status) \(String(decoding: answer.value, as: UTF8.self)) \(answer.error)")
        }
    }
    #expect(missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged writes read back wrong: \(missing.prefix(10))")
    await reader.close()
}
