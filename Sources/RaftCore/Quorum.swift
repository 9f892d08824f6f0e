/// Majority arithmetic over the voters (etcd's `quorum.MajorityConfig`).
struct MajorityConfig {
    let voters: [UInt64]

    var quorum: Int { voters.count / 2 + 1 }

    /// The largest index that a majority has matched (§5.3: "replicated on a majority").
    func committedIndex(_ match: (UInt64) -> UInt64) -> UInt64 {
        if voters.isEmpty { return .max }
        let sorted = voters.map(match).sorted(by: >)
        return sorted[quorum - 1]
    }

    enum VoteResult { case pending, won, lost }

    /// §5.2: a candidate wins with votes from a majority; it has lost once a majority can no longer grant.
    func voteResult(_ votes: [UInt64: Bool]) -> VoteResult {
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
