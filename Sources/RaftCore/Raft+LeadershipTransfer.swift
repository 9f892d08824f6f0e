import RaftMessages

/// Leadership transfer (Raft thesis §3.10): the leader stops accepting proposals, brings the
/// target's log up to date, and sends it `TimeoutNow`; the target campaigns at once, without a
/// pre-vote, and its vote requests carry `leadershipTransfer` so that voters inside the leader
/// lease grant them. The transfer is abandoned after an election timeout, or when the target
/// stops being a voter.
extension Raft {
    /// Starts handing leadership to voter `target`. Learners and non-members are refused; asking
    /// again for the same target changes nothing, asking for another one restarts the transfer.
    func transferLeadership(to target: UInt64) throws {
        guard role == .leader else { throw RaftError.notLeader(leaderID: lead) }
        if target == id { return }
        guard quorum.contains(target) else {
            if configuration.isLearner(target) {
                throw RaftError.transferRefused("member \(target) is a learner; only a voter can lead")
            }
            throw RaftError.transferRefused("member \(target) is not a voter of the configuration")
        }
        if leadTransferee == target { return }
        if leadTransferee != 0 { abortLeadershipTransfer() }
        leadTransferee = target
        // The transfer must finish within one election timeout from now (see `tickHeartbeat`).
        electionElapsed = 0
        if !sendTimeoutNowIfCaughtUp() {
            sendAppend(to: target, sendIfEmpty: true)
        }
    }

    /// The voter a leader that leaves (stops, is removed) should hand over to: among the other
    /// voters heard from within an election timeout, the one whose log is closest to the
    /// leader's (the fastest transfer, and the one least likely to be behind on applying), the
    /// lowest id on a tie. Nil when no other voter is reachable.
    func bestTransferee(excluding excluded: Set<UInt64> = []) -> UInt64? {
        guard role == .leader else { return nil }
        let candidates = voterPeers.compactMap { peer -> (id: UInt64, match: UInt64)? in
            guard !excluded.contains(peer), let pr = progress[peer], isRecentlyActive(pr) else { return nil }
            return (peer, pr.match)
        }
        return candidates.max { ($0.match, $1.id) < ($1.match, $0.id) }?.id
    }

    /// Sends `TimeoutNow` to the transfer target once its log matches ours; true if sent.
    @discardableResult
    func sendTimeoutNowIfCaughtUp() -> Bool {
        guard leadTransferee != 0, let pr = progress[leadTransferee], pr.match == log.lastIndex else { return false }
        send(.timeoutNow(TimeoutNowRequest(term: term, leaderID: id)), to: leadTransferee)
        return true
    }

    func abortLeadershipTransfer() {
        leadTransferee = 0
    }

    /// The leader asks this member to campaign now. Only a follower that may campaign does, and
    /// one with a committed configuration change to apply does so once it has applied it (a
    /// leader that removed itself hands over right after its removal commits). Every request is
    /// answered, with the term this member is at afterwards.
    func handleTimeoutNow(from leader: UInt64) {
        if role == .follower && (lead == leader || lead == 0) && promotable {
            if hasUnappliedConfigChange() {
                campaignOnceApplied = true
            } else {
                campaign(preVote: false, transfer: true)
            }
        }
        send(.timeoutNowResponse(TimeoutNowResponse(term: term)), to: leader)
    }

    /// Called after committed entries are applied: the deferred campaign of `handleTimeoutNow`.
    func campaignIfAskedOnceApplied() {
        guard campaignOnceApplied, role == .follower, promotable, !hasUnappliedConfigChange() else { return }
        campaignOnceApplied = false
        campaign(preVote: false, transfer: true)
    }
}
