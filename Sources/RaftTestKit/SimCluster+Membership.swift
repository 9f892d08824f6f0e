import RaftCore
import RaftMessages

/// Membership changes in the simulated cluster: the randomized simulation's membership nemesis.
extension SimCluster {
    /// How many servers the membership nemesis may add beyond the initial ones.
    static let maxAddedServers = 6

    /// The connected live server that believes it leads in the highest term, if any.
    public func currentLeader() -> Int? {
        (0..<n).filter { connected[$0] && getState($0).isLeader }.max { getState($0).term < getState($1).term }
    }

    /// One random membership operation, asked of whoever believes it leads (a deposed leader
    /// included): add a learner or a voter (a new server, sometimes never started), promote a
    /// learner, remove a member (the leader too), replace a voter by a learner in one joint
    /// change, or hand leadership to another voter. Refusals are part of the game.
    public func randomMembershipChange() {
        guard let leader = (0..<n).filter({ isAlive($0) && getState($0).isLeader }).randomElement(using: &rng),
            let server = servers[leader]
        else { return }
        let node = server.node
        let configuration = node.configuration
        func pick(_ ids: [UInt64]) -> UInt64? { ids.isEmpty ? nil : ids[rand(ids.count)] }
        var added: Int?
        let change: ConfigChange
        switch rand(6) {
        case 0, 1:
            guard n < initialCount + Self.maxAddedServers else { return }
            let i = addServer(start: false)
            added = i
            let learner = rand(3) != 0
            change = ConfigChange([learner ? .addLearner(member(i, learner: true)) : .addVoter(member(i))])
        case 2:
            guard let id = pick(configuration.learnerIDs) else { return }
            change = ConfigChange([.promote(id)])
        case 3:
            guard let id = pick(configuration.memberIDs) else { return }
            change = ConfigChange([.remove(id)])
        case 4:
            guard let new = pick(configuration.learnerIDs), let old = pick(configuration.voterIDs) else { return }
            change = ConfigChange([.promote(new), .remove(old)])
        default:
            guard let target = pick(configuration.voterIDs.filter { $0 != node.id }) else { return }
            try? node.transferLeadership(to: target)
            scheduleReady(server)
            note("server \(leader) hands leadership to \(target - 1)")
            return
        }
        do {
            let index = try node.proposeConfigChange(change)
            note("server \(leader) proposed \(change.steps.map { "\($0.type) \($0.member.id)" }) at \(index)")
            // Most new members start at once; some are added but never started (until healing).
            if let added, rand(4) != 0 {
                start(added)
                connect(added)
            }
        } catch {
            note("server \(leader) refused \(change.steps.map { "\($0.type) \($0.member.id)" }): \(error)")
            if let added { retire(added, "its addition was refused") }
        }
        scheduleReady(server)
    }

    /// The members of the configuration the current leader has applied, once no change is in
    /// flight (automatic ones, such as leaving a joint configuration, included).
    public func settledMembers() throws -> (leader: Int, members: [Int]) {
        var last: Configuration?
        for _ in 0..<20 {
            let leader = try checkOneLeader()
            guard let node = node(leader) else { continue }
            last = node.configuration
            if !node.configuration.isJoint && !node.hasUnappliedConfigChange {
                return (leader, node.configuration.memberIDs.map { Int($0) - 1 })
            }
            // Without no-ops (`noopOnElection` off) a change inherited from an earlier term
            // commits only with an entry of the new leader's term.
            _ = startCommand(leader, Command.int(randInt()))
        }
        throw failed("the configuration did not settle: \(String(describing: last))")
    }
}
