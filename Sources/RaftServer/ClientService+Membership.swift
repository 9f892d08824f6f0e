import NIOCore
import RaftCore
import RaftMessages
import RaftNode

/// The membership operations of the client port (kv.proto: `member_list`, `member_add`,
/// `member_promote`, `member_remove`, `member_replace`, `transfer_leader`). Only the leader
/// answers them (a follower answers NOT_LEADER); a change is answered OK once it is committed
/// and applied, with the configuration. A change that is already in effect is answered OK at
/// once, so a client may retry one whose answer it lost. Refusals that resolve by themselves
/// within moments (the leader's own change in flight, its first commit of the term) are retried
/// here; the others are answered ERROR with the leader's one-line reason.
extension ClientService {
    /// Changes that are refused for a moment are retried this long.
    static var transientRetryWindow: TimeAmount { .seconds(3) }

    /// Answers `operation` if it is a membership operation; nil otherwise.
    func handleMembership(_ operation: KVOperation, id: UInt64) -> EventLoopFuture<ClientResponse>? {
        switch operation {
        case .memberList:
            return withTimeout(id: id, node.readConfiguration().map { self.membersResponse(id, $0) })
        case .memberAdd(let member):
            if let problem = Self.problem(with: member) {
                return answer(ClientResponse(requestID: id, status: .error, error: problem))
            }
            return change(id: id, [member.learner ? .addLearner(member) : .addVoter(member)]) { configuration in
                guard let existing = configuration.member(member.id) else { return false }
                return existing.peerAddress == member.peerAddress && existing.learner == member.learner
                    && configuration.isVoter(member.id) != member.learner
            }
        case .memberPromote(let target):
            return change(id: id, [.promote(target)]) { $0.voterIDs.contains(target) && !$0.isJoint }
        case .memberRemove(let target):
            return change(id: id, [.remove(target)], leaving: target) { $0.isRemoved(target) }
        case .memberReplace(let old, let new):
            guard old != new else {
                return answer(ClientResponse(requestID: id, status: .error, error: "replace needs two different members"))
            }
            return change(id: id, [.promote(new), .remove(old)], leaving: old) { configuration in
                configuration.isRemoved(old) && configuration.voterIDs.contains(new)
            }
        case .transferLeader(let target):
            return withTimeout(
                id: id,
                node.transferLeadership(to: target).map {
                    ClientResponse(
                        requestID: id, status: .ok, leaderID: target, leaderAddress: self.clientAddress(of: target))
                })
        default:
            return nil
        }
    }

    /// The answer to a membership operation: the configuration, from the leader.
    func membersResponse(_ id: UInt64, _ configuration: Configuration) -> ClientResponse {
        ClientResponse(
            requestID: id, status: .ok, leaderID: node.id, leaderAddress: clientAddress(of: node.id),
            members: configuration.members, configuration: configuration)
    }

    /// Proposes `steps` on the leader, unless `done` says the configuration already reflects
    /// them. A leader asked to remove itself (`leaving`) first hands leadership over to the most
    /// up-to-date other voter and answers NOT_LEADER naming it, so that the client asks the new
    /// leader (§6 of the extended paper: a leader that removes itself steps down; handing over
    /// first spares the cluster an election).
    private func change(
        id: UInt64, _ steps: [ConfigChangeStep], leaving: UInt64? = nil,
        done: @escaping @Sendable (Configuration) -> Bool
    ) -> EventLoopFuture<ClientResponse> {
        let promise = node.eventLoop.makePromise(of: ClientResponse.self)
        node.status().whenComplete { result in
            guard case .success(let status) = result else { return promise.fail(RaftNodeError.stopped) }
            guard status.role == .leader else { return promise.fail(RaftNodeError.notLeader(leaderID: status.leaderID)) }
            if done(status.configuration) { return promise.succeed(self.membersResponse(id, status.configuration)) }
            if let leaving, leaving == status.id {
                self.handOver(excluding: leaving, promise: promise)
            } else {
                self.propose(ConfigChange(steps), id: id, until: .now() + Self.transientRetryWindow, promise: promise)
            }
        }
        return withTimeout(id: id, promise.futureResult)
    }

    private func propose(
        _ change: ConfigChange, id: UInt64, until deadline: NIODeadline, promise: EventLoopPromise<ClientResponse>
    ) {
        node.proposeConfigChange(change).whenComplete { result in
            switch result {
            case .success(let configuration):
                promise.succeed(self.membersResponse(id, configuration))
            case .failure(let error):
                guard Self.isTransient(error), NIODeadline.now() < deadline else { return promise.fail(error) }
                self.node.eventLoop.scheduleTask(in: .milliseconds(50)) {
                    self.propose(change, id: id, until: deadline, promise: promise)
                }
            }
        }
    }

    /// Hands leadership to the most up-to-date other voter, then answers NOT_LEADER naming it.
    private func handOver(excluding leaving: UInt64, promise: EventLoopPromise<ClientResponse>) {
        node.handOverLeadership(excluding: [leaving]).whenComplete { result in
            switch result {
            case .success(let target): promise.fail(RaftNodeError.notLeader(leaderID: target))
            case .failure(let error): promise.fail(error)
            }
        }
    }

    /// A refusal that resolves by itself within moments.
    static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case RaftNodeError.configChangeRefused(_, let transient): transient
        case RaftNodeError.transferInProgress: true
        default: false
        }
    }

    /// Why `member` cannot be added, nil if it can.
    static func problem(with member: Member) -> String? {
        if member.id == 0 { return "member id 0 is not valid" }
        if !isHostPort(member.peerAddress) {
            return "the peer address '\(member.peerAddress)' is not HOST:PORT (the address the other members dial)"
        }
        if !member.clientAddress.isEmpty && !isHostPort(member.clientAddress) {
            return "the client address '\(member.clientAddress)' is not HOST:PORT"
        }
        return nil
    }

    /// `host:port` with a port from 1 to 65535 (IPv6 hosts in brackets).
    static func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return false }
        return !text[..<colon].isEmpty
    }
}
