import Logging
import NIOConcurrencyHelpers
import NIOCore
import RaftCore
import RaftKV
import RaftMessages
import RaftNode

/// Answers the client protocol (proto/kv.proto) for one node: writes go through the log on the
/// leader (a follower answers NOT_LEADER with the leader's id and client address); linearizable
/// reads are answered by every member (ReadIndex, forwarded to the leader by followers); a
/// request that cannot finish within `requestTimeout` is answered TIMEOUT.
/// Membership operations are in `ClientService+Membership.swift`.
public final class ClientService: Sendable {
    public let node: RaftNode<KVStore>
    /// Member id → client address (host:port), for NOT_LEADER redirects to members whose
    /// address the replicated configuration does not hold (yet).
    public let clientAddresses: [UInt64: String]
    public let requestTimeout: TimeAmount
    private let counters = NIOLockedValueBox(ClientCounters())
    private let onMalformedFrame: @Sendable () -> Void
    private let answerDelay: @Sendable () -> TimeAmount?

    /// `onMalformedFrame` is told of every rejected frame or request (for
    /// `raft_malformed_frames_total{port="client"}`). `answerDelay`, a test hook (the
    /// `client-answer` failpoint), holds each write's answer that long after it applied.
    public init(
        node: RaftNode<KVStore>, clientAddresses: [UInt64: String], requestTimeout: TimeAmount = .seconds(5),
        onMalformedFrame: @escaping @Sendable () -> Void = {}, answerDelay: @escaping @Sendable () -> TimeAmount? = { nil }
    ) {
        self.node = node
        self.clientAddresses = clientAddresses
        self.requestTimeout = requestTimeout
        self.onMalformedFrame = onMalformedFrame
        self.answerDelay = answerDelay
    }

    /// Requests answered, by outcome, and frames rejected.
    public var stats: ClientCounters { counters.withLockedValue { $0 } }

    func countMalformedFrame() {
        counters.withLockedValue { $0.malformedFrames += 1 }
        onMalformedFrame()
    }

    /// Answers one request; the future never fails (every failure is a `ClientResponse`).
    public func handle(_ request: ClientRequest) -> EventLoopFuture<ClientResponse> {
        let id = request.requestID
        guard let operation = request.operation else {
            return answer(ClientResponse(requestID: id, status: .error, error: "request has no operation"))
        }
        if case .status = operation {
            return node.status().map { status in
                self.tally(ClientResponse(requestID: id, status: .ok, node: Self.nodeStatus(status)))
            }
        }
        if let membership = handleMembership(operation, id: id) { return membership }
        if case .get(let key, let serializable) = operation {
            let lookup: @Sendable (KVStore) -> ClientResponse = { store in
                let applied = store.appliedIndex
                return store.get(key).map { ClientResponse(requestID: id, status: .ok, value: $0, index: applied) }
                    ?? ClientResponse(requestID: id, status: .notFound, index: applied)
            }
            if serializable {
                // This member's own applied state, now: any member answers, possibly stale.
                return withTimeout(id: id, node.withStateMachine(lookup))
            }
            // Linearizable, on any member: the leader confirms it still leads (for a follower's
            // read, forwarded to it), then this member answers from its state machine once
            // applied through the leader's commit index (ReadIndex, thesis §6.4).
            return withTimeout(id: id, node.read(lookup))
        }
        if operation.isWrite && request.clientID == 0 {
            // Exactly-once needs an identity; refuse rather than risk a double apply on retry.
            return answer(ClientResponse(requestID: id, status: .error, error: "writes need a nonzero client_id"))
        }
        let command: [UInt8]
        do {
            command = try KVStore.command(for: request)
        } catch {
            return answer(ClientResponse(requestID: id, status: .error, error: "cannot encode the request: \(error)"))
        }
        var applied = node.propose(command).flatMapThrowing { response in
            guard var response else { throw AnswerError.noAnswer }
            response.requestID = id
            return response
        }
        if let delay = answerDelay() {
            let eventLoop = node.eventLoop
            applied = applied.flatMap { response in
                eventLoop.scheduleTask(in: delay) { response }.futureResult
            }
        }
        return withTimeout(id: id, applied)
    }

    private enum AnswerError: Error { case noAnswer }

    /// The client address of member `id`: as the replicated configuration records it, else as
    /// configured.
    func clientAddress(of id: UInt64) -> String {
        let recorded = node.configuration.member(id)?.clientAddress ?? ""
        return recorded.isEmpty ? clientAddresses[id] ?? "" : recorded
    }

    /// Maps the node's outcome to an answer, or TIMEOUT after `requestTimeout`.
    func withTimeout(id: UInt64, _ future: EventLoopFuture<ClientResponse>) -> EventLoopFuture<ClientResponse> {
        let promise = node.eventLoop.makePromise(of: ClientResponse.self)
        let timeout = node.eventLoop.scheduleTask(in: requestTimeout) {
            promise.succeed(ClientResponse(requestID: id, status: .timeout, error: "no answer within \(self.requestTimeout)"))
        }
        future.whenComplete { result in
            timeout.cancel()
            switch result {
            case .success(let response):
                promise.succeed(response)
            case .failure(AnswerError.noAnswer):
                promise.succeed(ClientResponse(requestID: id, status: .error, error: "the entry produced no answer"))
            case .failure(RaftNodeError.notLeader(let leader)):
                promise.succeed(
                    ClientResponse(
                        requestID: id, status: .notLeader, leaderID: leader, leaderAddress: self.clientAddress(of: leader)))
            case .failure(RaftNodeError.leadershipChanged):
                promise.succeed(
                    ClientResponse(requestID: id, status: .timeout, error: "leadership changed; retry (a write with the same sequence)"))
            case .failure(RaftNodeError.stopped):
                // A write may still commit through the other members: retrying it (same
                // sequence) elsewhere is what TIMEOUT asks for.
                promise.succeed(ClientResponse(requestID: id, status: .timeout, error: "this member is stopping; retry on another"))
            case .failure(RaftNodeError.readNotConfirmed):
                promise.succeed(ClientResponse(requestID: id, status: .timeout, error: "\(RaftNodeError.readNotConfirmed)"))
            case .failure(RaftNodeError.restoring):
                promise.succeed(ClientResponse(requestID: id, status: .timeout, error: "\(RaftNodeError.restoring)"))
            case .failure(RaftNodeError.transferInProgress):
                promise.succeed(
                    ClientResponse(requestID: id, status: .timeout, error: "leadership is being handed over; retry"))
            case .failure(RaftNodeError.transferTimedOut(let target)):
                // The client asks again (TIMEOUT is retriable); by then `target` may lead, and a
                // transfer to the leader is answered OK.
                promise.succeed(
                    ClientResponse(requestID: id, status: .timeout, error: "\(RaftNodeError.transferTimedOut(target))"))
            case .failure(RaftNodeError.configChangeRefused(let reason, _)):
                promise.succeed(ClientResponse(requestID: id, status: .error, error: "refused: \(reason)"))
            case .failure(RaftNodeError.transferFailed(let reason)):
                promise.succeed(ClientResponse(requestID: id, status: .error, error: "leadership transfer failed: \(reason)"))
            case .failure(let error):
                promise.succeed(ClientResponse(requestID: id, status: .error, error: "\(error)"))
            }
        }
        return promise.futureResult.map { self.tally($0) }
    }

    func answer(_ response: ClientResponse) -> EventLoopFuture<ClientResponse> {
        node.eventLoop.makeSucceededFuture(tally(response))
    }

    func tally(_ response: ClientResponse) -> ClientResponse {
        counters.withLockedValue { $0.count(response.status) }
        return response
    }

    static func nodeStatus(_ s: RaftNodeStatus) -> NodeStatus {
        NodeStatus(
            id: s.id, role: s.role.description, term: s.term, leaderID: s.leaderID, commitIndex: s.commitIndex,
            appliedIndex: s.appliedIndex, lastLogIndex: s.lastIndex, snapshotIndex: s.snapshotIndex)
    }
}

/// What the client port has answered so far.
public struct ClientCounters: Sendable, Hashable {
    public var answered: [KVStatus: Int] = [:]
    public var malformedFrames = 0

    mutating func count(_ status: KVStatus) { answered[status, default: 0] += 1 }
}
