/// Majority arithmetic over one set of voters (etcd's `quorum.MajorityConfig`).
struct MajorityConfig: Hashable {
    let voters: [UInt64]

    var quorum: Int { voters.count / 2 + 1 }

    /// The largest index that a majority has matched (§5.3: "replicated on a majority"). An empty
    /// set of voters places no constraint (`.max`), so that it drops out of a joint minimum.
    func committedIndex(_ match: (UInt64) -> UInt64) -> UInt64 {
        if voters.isEmpty { return .max }
        let sorted = voters.map(match).sorted(by: >)
        return sorted[quorum - 1]
    }

    /// §5.2: a candidate wins with votes from a majority; it has lost once a majority can no
    /// longer grant. An empty set of voters has no say: it counts as won.
    func voteResult(_ votes: [UInt64: Bool]) -> VoteResult {
        if voters.isEmpty { return .won }
        var granted = 0
        var rejected = 0
        for id in voters {
            switch votes[id] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        if granted >= quorum { return .won }
        if rejected > voters.count - quorum { return .lost }
        return .pending
    }
}

enum VoteResult { case pending, won, lost }

/// The quorum of a configuration (etcd's `quorum.JointConfig`): a single majority, or while a
/// configuration is joint (§6, C_old,new) a majority of the incoming voters *and* a majority of
/// the outgoing voters — so that neither the old nor the new configuration can decide alone.
struct JointConfig: Hashable {
    let incoming: MajorityConfig
    /// Empty unless joint.
    let outgoing: MajorityConfig

    init(incoming: [UInt64], outgoing: [UInt64] = []) {
        self.incoming = MajorityConfig(voters: incoming)
        self.outgoing = MajorityConfig(voters: outgoing)
        self.voters = Array(Set(incoming + outgoing)).sorted()
    }

    /// Every voter, each once (incoming and outgoing together).
    let voters: [UInt64]

    func contains(_ id: UInt64) -> Bool { incoming.voters.contains(id) || outgoing.voters.contains(id) }

    /// §6: "Agreement (for elections and entry commitment) requires separate majorities from both
    /// the old and new configurations."
    func committedIndex(_ match: (UInt64) -> UInt64) -> UInt64 {
        min(incoming.committedIndex(match), outgoing.committedIndex(match))
    }

    func voteResult(_ votes: [UInt64: Bool]) -> VoteResult {
        let a = incoming.voteResult(votes)
        let b = outgoing.voteResult(votes)
        if a == .won && b == .won { return .won }
        if a == .lost || b == .lost { return .lost }
        return .pending
    }

    /// True when the members in `active` make a quorum (check-quorum, strict reconfiguration).
    func isQuorum(_ active: Set<UInt64>) -> Bool {
        var votes: [UInt64: Bool] = [:]
        for id in active { votes[id] = true }
        return voteResult(votes) == .won
    }
}
