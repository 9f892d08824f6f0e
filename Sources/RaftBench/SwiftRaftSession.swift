import NIOCore
import RaftClient
import RaftMessages
import RaftTLS

/// A worker's session with swift-raft: one `KVClient` (its own client id and write sequence),
/// which finds the leader, follows NOT_LEADER and retries writes exactly once (over TLS with
/// `--cacert`).
///
/// With `--pipeline D > 1` the D in-flight requests of a worker share this client and its
/// connection; their sequence numbers are reserved in order but may reach the leader out of
/// order when two tasks race, and the node then answers the later-arriving lower sequence
/// from its session cache instead of applying it (still an acknowledged write).
struct SwiftRaftSession: BenchSession {
    let client: KVClient

    init(endpoints: [String], group: any EventLoopGroup, timeoutSeconds: Int64, readFrom: KVClient.ReadFrom, tls: TLSEndpoint?) {
        client = KVClient(endpoints: endpoints, group: group, timeout: .seconds(timeoutSeconds), readFrom: readFrom, tls: tls)
    }

    func put(key: [UInt8], value: [UInt8]) async throws {
        let response = try await client.put(key, value)
        guard response.status == .ok else {
            throw BenchFailure(description: "put: \(response.status) \(response.error)")
        }
    }

    func get(key: [UInt8]) async throws {
        let response = try await client.get(key)
        guard response.status == .ok || response.status == .notFound else {
            throw BenchFailure(description: "get: \(response.status) \(response.error)")
        }
    }

    func close() async { await client.close() }
}
