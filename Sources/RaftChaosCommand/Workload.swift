import NIOConcurrencyHelpers
import RaftChaos
import RaftCore
import RaftClient
import RaftMessages

/// Clients doing put, get (linearizable), delete and compare-and-swap on a few keys, each
/// operation recorded with its invoke and complete times and what the client learned. A write's
/// retries carry the same client id and sequence (KVClient), so the cluster applies it at most
/// once; a write that ended without an answer is recorded as `unknown`: it may have happened,
/// even after the client gave up.
final class Workload: Sendable {
    let recorder: HistoryRecorder
    private let tasks: [Task<Void, Never>]
    private let stopped = NIOLockedValueBox(false)

    init(cluster: ChaosCluster, clients: Int, keys: Int, seed: UInt64, timeout: Double, recorder: HistoryRecorder) {
        self.recorder = recorder
        let stopped = self.stopped
        // Each attempt gives up after half a second and tries the next member: clients keep
        // working on the majority's side while a paused or cut-off member holds connections.
        let attempt = min(0.5, timeout)
        tasks = (0..<clients).map { c in
            Task {
                var random = SplitMix64(seed: seed &+ 0x636C_6965_6E74 &* UInt64(c + 1))
                // A new session (client id) whenever the members change: the old client's
                // endpoints may all be gone (replaced), and a session's sequence must not restart.
                var session: UInt64 = 0
                var client = cluster.client(timeout: timeout, attempt: attempt, clientID: seed &+ UInt64(c) &+ 1)
                var written = 0
                /// The last value this client saw for each key: what its next CAS expects.
                var seen: [String: String?] = [:]
                while !stopped.withLockedValue({ $0 }) {
                    if client.endpoints != cluster.currentEndpoints {
                        await client.close()
                        session += 1
                        client = cluster.client(
                            timeout: timeout, attempt: attempt, clientID: (seed &+ UInt64(c) &+ 1) &+ session << 32)
                    }
                    let key = "k\(Int.random(in: 0..<keys, using: &random))"
                    let roll = Int.random(in: 0..<100, using: &random)
                    let call: KVCall
                    if roll < 35 {
                        written += 1
                        call = .put(key: key, value: "c\(c)-\(written)")
                    } else if roll < 70 {
                        call = .get(key: key)
                    } else if roll < 78 {
                        call = .delete(key: key)
                    } else {
                        written += 1
                        call = .cas(key: key, expected: seen[key] ?? nil, new: "c\(c)-\(written)")
                    }
                    let id = recorder.invoke(client: c, call: call)
                    let outcome = await Self.perform(call, with: client)
                    recorder.complete(id: id, outcome: outcome)
                    switch (call, outcome) {
                    case (.get, .value(let value)): seen[key] = value
                    case (.put(_, let value), .ok), (.cas(_, _, let value), .ok): seen[key] = value
                    case (.delete, .ok): seen[key] = .some(nil)
                    default: break
                    }
                }
                await client.close()
            }
        }
    }

    /// Runs one call; what the client can say about it afterwards.
    static func perform(_ call: KVCall, with client: KVClient) async -> KVOutcome {
        do {
            switch call {
            case .put(let key, let value):
                return writeOutcome(try await client.put(Array(key.utf8), Array(value.utf8)))
            case .delete(let key):
                return writeOutcome(try await client.delete(Array(key.utf8)))
            case .cas(let key, let expected, let new):
                return writeOutcome(
                    try await client.compareAndSwap(Array(key.utf8), expected: expected.map { Array($0.utf8) }, value: Array(new.utf8)))
            case .get(let key):
                let answer = try await client.get(Array(key.utf8))
                switch answer.status {
                case .ok: return .value(String(decoding: answer.value, as: UTF8.self))
                case .notFound: return .value(nil)
                default: return .unknown
                }
            }
        } catch {
            return .unknown
        }
    }

    /// OK and CAS_FAILED are definite answers; anything else (an error, a timeout after
    /// retries) may hide an entry that was appended and commits later.
    static func writeOutcome(_ answer: ClientResponse) -> KVOutcome {
        switch answer.status {
        case .ok: .ok
        case .casFailed: .casFailed
        default: .unknown
        }
    }

    /// Stops the clients (each finishes its operation in flight) and returns what they did.
    func stop() async -> KVHistory {
        stopped.withLockedValue { $0 = true }
        for task in tasks { await task.value }
        return recorder.history()
    }
}
