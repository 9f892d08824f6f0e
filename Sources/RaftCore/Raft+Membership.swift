import RaftMessages
import RaftWire

/// Membership changes (§6 of the extended paper), as etcd-io/raft makes them: a configuration
/// travels in `ENTRY_CONFIG` entries and takes effect on each member when that member *applies*
/// the entry. Changes of more than one voter go through a joint configuration (see
/// `ConfigurationChanger`). What keeps this safe:
///
/// - **One change at a time.** The leader appends a change only once it has applied the previous
///   one (`pendingConfIndex`); a new leader first applies everything its log held at election.
///   So two configuration entries in any log are always consecutive configurations, and every
///   configuration entry followed by another one is committed.
/// - **No change before the leader has committed an entry of its term** (the single-server bug
///   described on raft-dev in 2015): until then it may not know the latest commit index, nor
///   whether a change an earlier leader appended is in force. (Only operators' changes wait; the
///   leader's own ones — leaving a joint configuration it has applied, recording an address —
///   follow from what it has applied.)
/// - **No campaign with a committed but unapplied change** (etcd#7280): the candidate would
///   count votes with a configuration that is no longer the cluster's. The check also counts a
///   change as committed when a later change follows it in the log (it must have been applied
///   by the leader that appended the later one), which covers a member whose commit index was
///   lost in a crash.
/// - **A leader that is no longer a voter steps down** once a voter knows its removal is
///   committed, handing leadership to that voter (etcd#11038: a removed leader that keeps
///   leading stalls the group; see `beginRetiring`).
extension Raft {
    // MARK: Proposing

    /// Appends `change` as an `ENTRY_CONFIG` entry and returns its index, or refuses it without
    /// appending anything. `automatic`: the leader proposes it itself (see `ConfigChangeRefusal`).
    func proposeConfigChange(_ change: ConfigChange, automatic: Bool = false) throws -> UInt64 {
        guard role == .leader else { throw RaftError.notLeader(leaderID: lead) }
        guard leadTransferee == 0 && retiringAt == 0 else { throw RaftError.configChangeRefused(.transferInProgress) }
        if pendingConfIndex > log.applied {
            throw RaftError.configChangeRefused(.pending(index: pendingConfIndex, automatic: pendingConfIsAutomatic))
        }
        // Changes the leader makes itself follow from what it has applied (leaving a joint
        // configuration it applied, recording a member's address), so they need not wait.
        if !automatic && !committedInTerm { throw RaftError.configChangeRefused(.noCommitInTerm) }
        let next: Configuration
        do {
            next = try ConfigurationChanger.apply(change, to: configuration)
        } catch {
            throw RaftError.configChangeRefused(.invalid(error.description))
        }
        if config.strictReconfigCheck { try checkReachable(after: change, next) }
        let data: [UInt8]
        do {
            data = try change.serializedBytes()
        } catch {
            throw RaftError.configChangeRefused(.invalid("cannot encode the change: \(error)"))
        }
        appendEntries([LogEntry(index: 0, term: 0, type: .config, data: data)])
        pendingConfIndex = log.lastIndex
        pendingConfIsAutomatic = automatic
        pendingConfRemovesLeader = !JointConfig(incoming: next.voterIDs, outgoing: next.outgoingVoterIDs).contains(id)
        pendingBroadcast = true
        return log.lastIndex
    }

    /// An entry of this leader's term is committed (§5.4.2: only then does it know the latest
    /// commit index, and with it every committed configuration).
    var committedInTerm: Bool { log.term(log.committed) == term }

    /// etcd's strict reconfiguration check: the new configuration must have a quorum of members
    /// the leader has heard from within an election timeout (a change that needs a member that is
    /// down, or not started yet, would stop the cluster; a new leader that has not heard from
    /// enough of them yet refuses for a moment only), and a learner is promoted only once its
    /// log is within `Config.maxPromotionLag` entries of the leader's.
    private func checkReachable(after change: ConfigChange, _ next: Configuration) throws {
        for step in change.steps where step.type == .promote {
            let learner = step.member.id
            let pr = progress[learner]
            let match = pr?.match ?? 0
            guard let pr, isRecentlyActive(pr), match + config.maxPromotionLag >= log.lastIndex else {
                throw RaftError.configChangeRefused(.learnerBehind(id: learner, match: match, lastIndex: log.lastIndex))
            }
        }
        let nextQuorum = JointConfig(incoming: next.voterIDs, outgoing: next.outgoingVoterIDs)
        guard nextQuorum != quorum else { return }
        var reachable: Set<UInt64> = [id]
        for (member, pr) in progress where isRecentlyActive(pr) { reachable.insert(member) }
        guard !nextQuorum.isQuorum(reachable) else { return }
        // A leader that took office less than an election timeout ago may simply not have had
        // an answer from a voter yet (right after a leadership transfer, the old leader often
        // answers first): not a reason to refuse the change for good.
        let unheard = progress.filter { $0.key != id && $0.value.lastActiveTick == nil && nextQuorum.contains($0.key) }.map(\.key)
        if ticks - leaderSinceTick <= UInt64(electionTimeout), nextQuorum.isQuorum(reachable.union(unheard)) {
            throw RaftError.configChangeRefused(.votersNotHeardYet(unheard.sorted()))
        }
        func describe(_ voters: [UInt64]) -> String {
            let up = voters.filter(reachable.contains)
            return "\(up.count) of the voters \(voters.map(String.init).joined(separator: ", ")) (a quorum is \(voters.count / 2 + 1))"
        }
        var text = "afterwards only " + describe(next.voterIDs)
        if next.isJoint { text += " and " + describe(next.outgoingVoterIDs) }
        text += " would be reachable from the leader; start the missing members first"
        throw RaftError.configChangeRefused(.quorumUnreachable(text))
    }

    func isRecentlyActive(_ pr: Progress) -> Bool {
        guard let last = pr.lastActiveTick else { return false }
        return ticks - last <= UInt64(electionTimeout)
    }

    // MARK: Applying

    /// Applies the configuration change an `ENTRY_CONFIG` entry carries, as the entry is applied.
    /// An entry that does not decode, or a change that is not valid for the current
    /// configuration, changes nothing — on every member alike, since all apply the same entries
    /// to the same configurations. (The leader validated it against the same configuration, so
    /// this does not happen with entries this core appended.)
    ///
    /// A change applied to an empty configuration at any index but 1 also changes nothing. Only
    /// a member that joined a cluster whose first configuration is not in its log (data written
    /// before configurations were replicated) gets there, and taking the change as the whole
    /// configuration would make it a voter of a cluster of its own.
    func applyConfigEntry(_ entry: LogEntry) {
        if configuration.isEmpty && entry.index != 1 { return }
        guard let next = ConfigurationChanger.applying(entry, to: configuration) else { return }
        switchConfiguration(to: next)
    }

    /// Makes `next` the configuration in force here. A leader starts tracking added members,
    /// forgets removed ones, may commit more (the quorum changed) and, if it is no longer a voter,
    /// hands leadership over and steps down.
    func switchConfiguration(to next: Configuration) {
        let previous = configuration
        configuration = next
        if next.isRemoved(id) && removalIndex == 0 { removalIndex = log.applied }
        guard role == .leader else { return }
        for member in next.memberIDs where progress[member] == nil {
            addProgress(member)
            // Not yet heard from, but must not make check-quorum step down before it could be.
            progress[member]?.recentActive = true
        }
        for member in Array(progress.keys) where !next.contains(member) {
            progress[member] = nil
        }
        if leadTransferee != 0 && !quorum.contains(leadTransferee) { abortLeadershipTransfer() }
        if !quorum.contains(id) {
            beginRetiring()
            return
        }
        maybeCommit()
        releaseConfirmedReads()
        for member in next.memberIDs where member != id && !previous.contains(member) {
            sendAppend(to: member, sendIfEmpty: true)
        }
    }

    // MARK: A leader that is no longer a voter

    /// The leader applied a change that removed it from the voters (it appended nothing after
    /// the change: see `pendingConfRemovesLeader`, so every entry of its log is committed and a
    /// voter that has the change has its whole log). It does not step down at once: with apply-time configurations, a voter that has not learnt the change is committed
    /// still counts this leader in its quorum (a two-voter cluster would be stuck without it). It
    /// leads on — managing a cluster that does not include it, as thesis §4.2.2 describes —
    /// accepting no proposals, until a voter whose log matches its own has answered a heartbeat
    /// carrying the commit index; then it asks that voter to campaign at once (thesis §3.10)
    /// and steps down. After an election timeout without that, it steps down anyway.
    func beginRetiring() {
        abortLeadershipTransfer()
        retiringAt = log.applied
        retireRound = reads.requestRound()
        electionElapsed = 0
    }

    /// A voter answered: if it has the whole log and heard the commit index covering this
    /// leader's removal, hand leadership to it.
    func retireIfConfirmed(by peer: UInt64) {
        guard role == .leader, quorum.contains(peer), let pr = progress[peer], pr.readRound >= retireRound, pr.match == log.lastIndex,
            log.committed >= retiringAt
        else { return }
        send(.timeoutNow(TimeoutNowRequest(term: term, leaderID: id)), to: peer)
        becomeFollower(term: term, lead: 0)
    }

    /// Steps down without a confirmation, asking the most up-to-date voter to campaign.
    func retire() {
        let candidates = voterPeers.compactMap { peer in progress[peer].map { (peer, $0.match) } }
        if let (target, match) = candidates.max(by: { ($0.1, $1.0) < ($1.1, $0.0) }), match == log.lastIndex {
            send(.timeoutNow(TimeoutNowRequest(term: term, leaderID: id)), to: target)
        }
        becomeFollower(term: term, lead: 0)
    }

    /// A removed member asks the voters of the configuration that removed it for a pre-vote
    /// every election timeout. It changes nothing anywhere; a member that has applied the
    /// removal refuses the message (`MemberRefused`), which tells this one it may stop, while
    /// one that has not answers as usual — and may yet need this member's vote to elect a
    /// leader that learns the removal is committed (so a removed member never leaves on a
    /// timer; see `RawNode.removalIsKnownToLeader`).
    func probeRemoval() {
        let request = RequestVoteRequest(
            term: term + 1, candidateID: id, lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm, preVote: true)
        for voter in quorum.voters where voter != id {
            send(.requestVote(request), to: voter)
        }
    }

    // MARK: Campaign guard

    /// True when the log holds a configuration change that is committed but not applied here.
    /// A change is committed if it is at or below the commit index, or if another configuration
    /// change follows it in the log: the leader that appended the later one had applied it (one
    /// change at a time). The commit index moves up to what that shows.
    func hasUnappliedConfigChange() -> Bool {
        let changes = unappliedConfigChanges()
        guard !changes.isEmpty else { return false }
        if changes.count >= 2 { log.commit(to: changes[changes.count - 2]) }
        return changes[0] <= log.committed
    }

    /// The indices of the configuration changes in the log after the applied index.
    func unappliedConfigChanges() -> [UInt64] {
        let last = log.lastIndex
        var index = max(log.applied + 1, log.firstIndex)
        var changes: [UInt64] = []
        while index <= last {
            guard let page = try? log.slice(index, min(last + 1, index + 1024), maxSize: 1 << 22), !page.isEmpty else {
                break
            }
            for entry in page where entry.type == .config { changes.append(entry.index) }
            index = page[page.count - 1].index + 1
        }
        return changes
    }

    // MARK: Changes the leader makes itself

    /// Leaves a joint configuration once it is applied (§6; etcd's auto-leave, checked on every
    /// tick and apply so that a new leader leaves it too, etcd#12136), and records this leader's
    /// own client address and incarnation when the configuration lacks them.
    func proposeAutomaticConfigChange() {
        guard role == .leader, leadTransferee == 0, retiringAt == 0, pendingConfIndex <= log.applied else { return }
        if configuration.isJoint {
            if configuration.autoLeave { _ = try? proposeConfigChange(.leaveJoint, automatic: true) }
        } else if let update = recordUpdate(for: id, announced: config.member) {
            _ = try? proposeConfigChange(ConfigChange([.update(update)]), automatic: true)
        }
    }

    /// A member announced its own record (`AppendEntriesResponse.member`): record what differs.
    func recordMemberAnnouncement(_ member: Member, from peer: UInt64) {
        guard role == .leader, member.id == peer, leadTransferee == 0, pendingConfIndex <= log.applied,
            !configuration.isJoint, let update = recordUpdate(for: peer, announced: member)
        else { return }
        _ = try? proposeConfigChange(ConfigChange([.update(update)]), automatic: true)
    }

    /// The `update` step that brings the configuration's record of `member` in line with what it
    /// announced (a new client address, a first incarnation), or nil if none is needed. A
    /// recorded incarnation is never replaced: a member announcing another one lost its data.
    func recordUpdate(for member: UInt64, announced: Member?) -> Member? {
        guard let announced, let recorded = configuration.member(member) else { return nil }
        if recorded.incarnation != 0 && announced.incarnation != 0 && recorded.incarnation != announced.incarnation {
            return nil
        }
        let address = !announced.clientAddress.isEmpty && announced.clientAddress != recorded.clientAddress
        let incarnation = recorded.incarnation == 0 && announced.incarnation != 0
        guard address || incarnation else { return nil }
        return Member(id: member, clientAddress: announced.clientAddress, incarnation: announced.incarnation)
    }

    /// This member's own record for its AppendEntries answers, when the configuration it has
    /// applied records it differently.
    func memberAnnouncement() -> Member? {
        guard let me = config.member, recordUpdate(for: id, announced: me) != nil else { return nil }
        return Member(id: id, clientAddress: me.clientAddress, incarnation: me.incarnation)
    }
}
