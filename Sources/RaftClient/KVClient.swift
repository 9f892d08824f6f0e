import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftMessages
import RaftTLS

/// A client of the key-value cluster: finds the leader among `endpoints`, follows NOT_LEADER
/// redirects, and retries a write with the same sequence number after a timeout or a lost
/// connection, so each write applies exactly once (§8 of the extended paper). Linearizable
/// reads go to every member in turn (`readFrom: .all`, the default: any member answers them),
/// or follow the leader as writes do (`.leader`).
///
/// With `tls` it speaks TLS to every endpoint (`TLSEndpoint.client`, with the CA that signed the
/// members' certificates and, when the members ask for one, a client certificate). A call that
/// meets only TLS failures throws `KVClientError.tls` at once: retrying does not fix a
/// certificate.
public final class KVClient: Sendable {
    /// Where linearizable reads go.
    public enum ReadFrom: String, Sendable, CaseIterable {
        /// Each read to the next endpoint in turn, spreading read load over the members.
        case all
        /// To the leader, as writes.
        case leader
    }

    public let endpoints: [String]
    public let clientID: UInt64
    /// How long one call may take, retries included.
    public let timeout: TimeAmount
    /// How long one attempt waits for its answer before the call moves on to the next member
    /// (nil: as long as the call may take). A write retried elsewhere keeps its sequence, so it
    /// still applies once; a short limit keeps a client from waiting out a member that is paused
    /// or cut off from the others.
    public let attemptTimeout: TimeAmount?
    public let readFrom: ReadFrom
    /// TLS to the client port (nil: plaintext).
    public let tls: TLSEndpoint?
    private let group: any EventLoopGroup
    private let state = NIOLockedValueBox(State())

    private struct State {
        var sequence: UInt64 = 0
        var connections: [String: ClientConnection] = [:]
        /// Where the last write's (or leader read's) answer came from or pointed to.
        var preferred: String?
        /// The endpoint the next spread read starts at.
        var nextRead = 0
    }

    public init(
        endpoints: [String], group: any EventLoopGroup, clientID: UInt64 = UInt64.random(in: 1...UInt64.max),
        timeout: TimeAmount = .seconds(10), attemptTimeout: TimeAmount? = nil, readFrom: ReadFrom = .all,
        tls: TLSEndpoint? = nil
    ) {
        self.tls = tls
        self.endpoints = endpoints
        self.group = group
        self.clientID = clientID
        self.timeout = timeout
        self.attemptTimeout = attemptTimeout
        self.readFrom = readFrom
    }

    public func put(_ key: [UInt8], _ value: [UInt8]) async throws -> ClientResponse {
        try await write(.put(key: key, value: value))
    }

    public func delete(_ key: [UInt8]) async throws -> ClientResponse {
        try await write(.delete(key: key))
    }

    /// `expected == nil`: succeed only if the key is absent.
    public func compareAndSwap(_ key: [UInt8], expected: [UInt8]?, value: [UInt8]) async throws -> ClientResponse {
        try await write(.compareAndSwap(key: key, expected: expected, value: value))
    }

    /// A linearizable read (ReadIndex, thesis §6.4), from the member `readFrom` picks; a member
    /// that cannot serve it (no leader known, not confirmed in time) passes it to the next.
    public func get(_ key: [UInt8]) async throws -> ClientResponse {
        let request = ClientRequest(requestID: 0, operation: .get(key: key))
        guard readFrom == .all, endpoints.count > 1 else { return try await call(request) }
        let start = state.withLockedValue { state in
            defer { state.nextRead = (state.nextRead + 1) % endpoints.count }
            return state.nextRead
        }
        return try await call(request, spreadFrom: start)
    }

    /// A membership operation (`memberList`, `memberAdd`, ... `transferLeader`), answered by the
    /// leader: redirects are followed and a timed-out attempt is retried, which is safe because
    /// the server answers OK for a change that is already in effect. A refused change comes
    /// back with status ERROR and the leader's reason.
    public func membership(_ operation: KVOperation) async throws -> ClientResponse {
        try await call(ClientRequest(requestID: 0, operation: operation))
    }

    /// Sends one request to one endpoint and returns its answer as is: no redirect, no retry
    /// (diagnostics and tests). Writes should carry this client's `clientID` and a fresh
    /// `nextSequence()`. Like every call, it waits at most `timeout`: a member that accepts and
    /// never answers (paused, or its loop stuck) fails it with `.timedOut`.
    public func sendOnce(_ request: ClientRequest, to endpoint: String) async throws -> ClientResponse {
        try await connection(to: endpoint).send(request, timeout: timeout)
    }

    /// Reserves the next write sequence number of this client.
    public func nextSequence() -> UInt64 {
        state.withLockedValue {
            $0.sequence += 1
            return $0.sequence
        }
    }

    /// A serializable read: what `endpoint`'s own state machine holds now (may be stale).
    public func localGet(_ key: [UInt8], from endpoint: String) async throws -> ClientResponse {
        try await connection(to: endpoint).send(
            ClientRequest(requestID: 0, operation: .get(key: key, serializable: true)), timeout: timeout)
    }

    /// What `endpoint` says about itself (no redirect).
    public func status(of endpoint: String) async throws -> NodeStatus {
        let connection = try await connection(to: endpoint)
        let response = try await connection.send(ClientRequest(requestID: 0, operation: .status), timeout: timeout)
        guard response.status == .ok, let node = response.node else {
            throw KVClientError.server(status: response.status, message: response.error)
        }
        return node
    }

    public func close() async {
        let all = state.withLockedValue { state in
            defer { state.connections.removeAll() }
            return Array(state.connections.values)
        }
        for connection in all { await connection.close() }
    }

    private func write(_ operation: KVOperation) async throws -> ClientResponse {
        let sequence = nextSequence()
        return try await call(ClientRequest(requestID: 0, clientID: clientID, sequence: sequence, operation: operation))
    }

    /// Sends `request` until a leader answers it: NOT_LEADER redirects, TIMEOUT and lost
    /// connections retry (the same sequence, so a write that did apply is answered, not
    /// re-applied), each endpoint in turn, until `timeout`. `spreadFrom`: a read any member may
    /// answer, tried from that endpoint on (its answer says nothing about who leads).
    private func call(_ request: ClientRequest, spreadFrom start: Int? = nil) async throws -> ClientResponse {
        let deadline = NIODeadline.now() + timeout
        var tried: [String] = []
        func order() -> [String] {
            guard let start else { return orderedEndpoints() }
            return Array(endpoints[start...] + endpoints[..<start])
        }
        var candidates = order()
        var pause = TimeAmount.milliseconds(20)
        // Endpoints whose last attempt failed TLS; when that is every endpoint, give up.
        var tlsFailures: Set<String> = []
        while NIODeadline.now() < deadline {
            if candidates.isEmpty {
                // Every member said "not me" (an election is on) or was unreachable: poll again
                // soon. The pause stays short so the client notices a new leader within about
                // 100 ms of its election; the timeout bounds the whole call.
                candidates = order()
                try await Task.sleep(nanoseconds: UInt64(pause.nanoseconds))
                pause = min(pause * 2, .milliseconds(100))
            }
            let endpoint = candidates.removeFirst()
            if !tried.contains(endpoint) { tried.append(endpoint) }
            let response: ClientResponse
            // No attempt outlasts the call's own deadline.
            let remaining = deadline - NIODeadline.now()
            tlsFailures.remove(endpoint)
            do {
                response = try await connection(to: endpoint).send(
                    request, timeout: attemptTimeout.map { min($0, remaining) } ?? remaining)
            } catch KVClientError.timedOut {
                continue
            } catch {
                drop(endpoint)
                if let failure = error as? KVClientError, case .tls = failure {
                    tlsFailures.insert(endpoint)
                    if tlsFailures.isSuperset(of: endpoints) { throw failure }
                }
                continue
            }
            switch response.status {
            case .notLeader:
                if !response.leaderAddress.isEmpty, response.leaderAddress != endpoint {
                    candidates.removeAll { $0 == response.leaderAddress }
                    candidates.insert(response.leaderAddress, at: 0)
                    state.withLockedValue { $0.preferred = response.leaderAddress }
                }
            case .timeout:
                continue
            default:
                if start == nil { state.withLockedValue { $0.preferred = endpoint } }
                return response
            }
        }
        throw tried.isEmpty ? KVClientError.timedOut(afterSeconds: Double(timeout.nanoseconds) / 1e9) : KVClientError.noLeader(tried: tried)
    }

    private func orderedEndpoints() -> [String] {
        let preferred = state.withLockedValue { $0.preferred }
        guard let preferred else { return endpoints }
        return [preferred] + endpoints.filter { $0 != preferred }
    }

    private func connection(to endpoint: String) async throws -> ClientConnection {
        if let existing = state.withLockedValue({ $0.connections[endpoint] }), existing.isActive { return existing }
        let fresh = try await ClientConnection.connect(to: endpoint, group: group, timeout: .seconds(1), tls: tls)
        let previous = state.withLockedValue { state in
            defer { state.connections[endpoint] = fresh }
            return state.connections[endpoint]
        }
        await previous?.close()
        return fresh
    }

    private func drop(_ endpoint: String) {
        _ = state.withLockedValue { $0.connections.removeValue(forKey: endpoint) }
    }
}
