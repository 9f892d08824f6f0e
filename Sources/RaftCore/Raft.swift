import RaftMessages

/// The role a node plays (§5.1, plus the pre-candidate of thesis §9.6).
public enum Role: Sendable, Hashable, CustomStringConvertible {
    case follower
    /// Asking peers whether it could win, before incrementing its term (pre-vote).
    case preCandidate
    case candidate
    case leader

    public var description: String {
        switch self {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }
}

/// The Raft state machine (etcd's `raft`): Figure 2 and §5, §7 of the extended paper. It never
/// performs I/O: inputs are `tick`, `step` and `propose`; outputs accumulate in `msgs` and in the
/// log, and `RawNode` hands them to the driver as a `Ready`.
final class Raft {
    let id: UInt64
    let config: Config
    /// Figure 2 `currentTerm`.
    var term: UInt64 = 0
    /// Figure 2 `votedFor` (0: none).
    var vote: UInt64 = 0
    var log: RaftLog
    private(set) var role: Role = .follower
    /// The leader of `term` as far as this node knows (0: unknown).
    var lead: UInt64 = 0
    /// The configuration this node has applied (§6; changes take effect when applied, see
    /// `Raft+Membership.swift`), and its quorum.
    var configuration: Configuration {
        didSet { configurationChanged() }
    }
    private(set) var quorum: JointConfig
    /// Every other member: the leader replicates to all of them. Kept with `configuration`
    /// because the replication paths read it per message.
    private(set) var peers: [UInt64] = []
    /// Every other voter: a candidate asks them for votes.
    private(set) var voterPeers: [UInt64] = []
    /// Leader only: one entry per member (voters, learners, outgoing voters), this node included.
    var progress: [UInt64: Progress] = [:]
    /// Leader only: the index of the latest configuration change this leader may not have
    /// applied yet; a new change waits until `applied` reaches it (one change at a time).
    var pendingConfIndex: UInt64 = 0
    /// Leader only: the pending change was proposed by the leader itself (leaving a joint
    /// configuration, recording a member's address), not by an operator.
    var pendingConfIsAutomatic = false
    /// Leader only: the pending change takes this leader out of the voters. It appends nothing
    /// more until it is applied, so that its log ends with the change (see `beginRetiring`).
    var pendingConfRemovesLeader = false
    /// Leader only: the voter leadership is being handed to (thesis §3.10), 0 for none.
    var leadTransferee: UInt64 = 0
    /// Ticks since start, to tell which peers were heard from recently.
    var ticks: UInt64 = 0
    /// Leader only: `ticks` when it took office; until an election timeout later, a voter it
    /// has not heard from yet is not known to be down.
    var leaderSinceTick: UInt64 = 0
    /// The leader asked this member to campaign (`TimeoutNow`) while it had a committed change
    /// to apply first: it campaigns once applied.
    var campaignOnceApplied = false
    /// Leader only: the index of the applied change that removed this leader from the voters
    /// (0: not removed); it leads on until a voter knows the change is committed, see
    /// `Raft+Membership.swift`. `retireRound`: the heartbeat round that tells them.
    var retiringAt: UInt64 = 0
    var retireRound: UInt64 = 0
    /// The index of the applied change (or snapshot) that removed this member (0: a member).
    var removalIndex: UInt64 = 0
    /// Candidate and pre-candidate: the answers received in this election.
    var votes: [UInt64: Bool] = [:]
    /// Messages to send, drained by `RawNode.ready()`.
    var msgs: [Message] = []
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    private var rng: SplitMix64
    /// Proposals were appended since the last broadcast: they go out together at `ready()`.
    var pendingBroadcast = false
    var incomingSnapshot: IncomingSnapshot?
    /// The commit index the current leader last announced (a follower's view, for the commit
    /// lag it reports; 0 when no leader was heard in this term).
    var leaderCommit: UInt64 = 0
    /// Leader: linearizable reads (thesis §6.4 ReadIndex) in flight; on every node, the
    /// confirmed reads of this node's driver.
    var reads = ReadIndexQueue()
    /// Follower and learner: reads forwarded to the leader.
    var forwardedReads = ForwardedReads()
    /// Reads of this node's driver given up since the last `Ready`.
    var droppedReads: [UInt64] = []
    /// Pieces of a snapshot received from the leader, for the driver to write (`Ready.snapshotChunks`).
    var snapshotChunks: [SnapshotChunk] = []

    var electionTimeout: Int { config.electionTick }
    var heartbeatTimeout: Int { config.heartbeatTick }

    init(config: Config, storage: any Storage) throws {
        try config.validate()
        self.id = config.id
        self.config = config
        self.rng = SplitMix64(seed: config.randomSeed ^ (config.id &* 0x9E37_79B9_7F4A_7C15))
        self.log = try RaftLog(storage: storage)
        let (hardState, stored) = try storage.initialState()
        // The stored configuration is the snapshot's; without one, `config.voters` (a brand-new
        // member of a brand-new cluster; empty for a member joining a running one). Entries
        // after the snapshot re-apply their changes as they are applied again.
        let configuration = stored.isEmpty ? Configuration(voterIDs: config.voters) : stored
        self.configuration = configuration
        self.quorum = JointConfig(incoming: configuration.voterIDs, outgoing: configuration.outgoingVoterIDs)
        configurationChanged()
        if configuration.isRemoved(config.id) { removalIndex = max(1, log.firstIndex - 1) }
        if !hardState.isEmpty {
            if hardState.commit > log.lastIndex {
                throw RaftError.invalidConfig("hard state commit \(hardState.commit) beyond last index \(log.lastIndex)")
            }
            term = hardState.term
            vote = hardState.vote
            log.commit(to: hardState.commit)
        }
        if config.applied > 0 {
            log.applied(to: min(config.applied, log.committed))
        }
        forwardedReads = ForwardedReads(firstContext: rng.next())
        becomeFollower(term: term, lead: 0)
    }

    var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }

    /// This node may campaign: it is a voter (learners never campaign) and is not installing a
    /// snapshot whose configuration it has not applied yet.
    var promotable: Bool { quorum.contains(id) && log.unstable.snapshot == nil }

    private func configurationChanged() {
        quorum = JointConfig(incoming: configuration.voterIDs, outgoing: configuration.outgoingVoterIDs)
        peers = configuration.memberIDs.filter { $0 != id }
        voterPeers = quorum.voters.filter { $0 != id }
    }

    func send(_ body: RaftMessage, to: UInt64) {
        msgs.append(Message(from: id, to: to, body: body))
    }

    // MARK: Role changes

    /// Resets the per-term state. A new term forgets the vote (Figure 2: `votedFor` is per term).
    private func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        lead = 0
        leaderCommit = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        votes = [:]
        pendingBroadcast = false
        abandonReads(newTerm: newTerm)
        leadTransferee = 0
        campaignOnceApplied = false
        retiringAt = 0
        progress = [:]
        for member in configuration.memberIDs { addProgress(member) }
    }

    /// Starts tracking a member as a leader would at the start of its term: probing from the
    /// end of the log.
    func addProgress(_ member: UInt64) {
        let last = log.lastIndex
        var pr = Progress(next: last + 1, maxInflight: config.maxInflightMsgs)
        // Our own acknowledgement counts only what is durable (thesis §10.2.1).
        if member == id { pr.match = min(last, log.unstable.offset - 1) }
        progress[member] = pr
    }

    /// §5.2: the election timeout is chosen at random from `[electionTick, 2 * electionTick)` so
    /// that split votes are rare and resolve quickly.
    private func resetRandomizedElectionTimeout() {
        randomizedElectionTimeout = electionTimeout + Int.random(in: 0..<electionTimeout, using: &rng)
    }

    func becomeFollower(term newTerm: UInt64, lead newLead: UInt64) {
        reset(term: newTerm)
        role = .follower
        lead = newLead
    }

    /// Thesis §9.6: a pre-candidate keeps its term and vote; only a won pre-vote lets it campaign.
    private func becomePreCandidate() {
        precondition(role != .leader, "raft: leader cannot become pre-candidate")
        role = .preCandidate
        votes = [:]
        lead = 0
    }

    /// §5.2: "a follower increments its current term and transitions to candidate state. It then
    /// votes for itself".
    func becomeCandidate() {
        precondition(role != .leader, "raft: leader cannot become candidate")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    /// Figure 2, Rules for Servers, Leaders: "Upon election: send initial empty AppendEntries RPCs
    /// (heartbeat) to each server". With `noopOnElection` the first one carries the no-op of §8.
    private func becomeLeader() {
        precondition(role == .candidate, "raft: only a candidate can become leader")
        reset(term: term)
        role = .leader
        lead = id
        leaderSinceTick = ticks
        // Entries of earlier terms may hold a configuration change this leader has not applied:
        // no new change until everything in its log at election is applied (etcd's rule).
        pendingConfIndex = log.lastIndex
        pendingConfIsAutomatic = true
        pendingConfRemovesLeader = false
        if config.noopOnElection {
            appendEntries([LogEntry(index: 0, term: 0, type: .noop)])
        }
        bcastAppend(sendIfEmpty: true)
    }

    // MARK: Ticks

    func tick() {
        ticks += 1
        expireForwardedReads()
        if role == .leader {
            flushCommit()
            tickHeartbeat()
            if role == .leader { proposeAutomaticConfigChange() }
        } else {
            tickElection()
        }
    }

    /// Figure 2, Rules for Servers, Followers: "If election timeout elapses without receiving
    /// AppendEntries RPC from current leader or granting vote to candidate: convert to candidate".
    private func tickElection() {
        electionElapsed += 1
        if electionElapsed >= randomizedElectionTimeout {
            if promotable {
                electionElapsed = 0
                hup()
            } else if removalIndex != 0 {
                electionElapsed = 0
                probeRemoval()
            }
        }
    }

    private func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= electionTimeout {
            electionElapsed = 0
            // Thesis §3.10: a transfer that has not completed within an election timeout is
            // abandoned, and the leader accepts proposals again.
            if leadTransferee != 0 { abortLeadershipTransfer() }
            if retiringAt != 0 {
                // No voter confirmed it knows the change removing this leader is committed
                // within an election timeout: hand over as well as it can and step down.
                retire()
                return
            }
            if config.checkQuorum && !checkQuorumActive() {
                becomeFollower(term: term, lead: 0)
                return
            }
        }
        if heartbeatElapsed >= heartbeatTimeout {
            heartbeatElapsed = 0
            bcastHeartbeat()
        }
    }

    /// Check-quorum (thesis §6.2): a leader that has not heard from a majority during the last
    /// election timeout steps down, so a partitioned leader stops accepting proposals it cannot
    /// commit and clients find the real leader.
    private func checkQuorumActive() -> Bool {
        var active: Set<UInt64> = [id]
        for (member, pr) in progress where pr.recentActive {
            active.insert(member)
            progress[member]?.recentActive = false
        }
        return quorum.isQuorum(active)
    }

    // MARK: Elections

    /// Starts an election (or a pre-vote first, when enabled) — unless this node may not
    /// campaign: a learner or non-member, or a node with a committed configuration change it
    /// has not applied yet (it would count votes with a configuration that is no longer the
    /// cluster's; see `hasUnappliedConfigChange`).
    func hup() {
        guard role != .leader, promotable, !hasUnappliedConfigChange() else { return }
        campaign(preVote: config.preVote)
    }

    /// §5.2: "issues RequestVote RPCs in parallel to each of the other servers". A pre-vote asks
    /// for the term it would campaign in without moving to it. `transfer`: the leader handed
    /// leadership over (thesis §3.10), which voters inside the leader lease honour.
    func campaign(preVote: Bool, transfer: Bool = false) {
        let voteTerm: UInt64
        if preVote {
            becomePreCandidate()
            voteTerm = term + 1
        } else {
            becomeCandidate()
            voteTerm = term
        }
        votes[id] = true
        if quorum.voteResult(votes) == .won {
            if preVote { campaign(preVote: false) } else { becomeLeader() }
            return
        }
        let request = RequestVoteRequest(
            term: voteTerm, candidateID: id, lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm, preVote: preVote,
            leadershipTransfer: transfer)
        for peer in voterPeers {
            send(.requestVote(request), to: peer)
        }
    }

    /// Figure 2, RequestVote receiver: grant if we have not voted for someone else in this term
    /// and the candidate's log is at least as up to date as ours (§5.4.1 election restriction).
    /// A pre-vote for a later term is granted on the log check alone and changes nothing here.
    /// Learners answer too: a learner may have been promoted by a change it has not applied yet,
    /// and the candidate, which counts only the voters of its own configuration, may need it.
    private func handleRequestVote(from: UInt64, _ request: RequestVoteRequest) {
        let canVote =
            vote == from || (vote == 0 && lead == 0) || (request.preVote && request.term > term)
        if canVote && log.isUpToDate(lastIndex: request.lastLogIndex, lastTerm: request.lastLogTerm) {
            send(.requestVoteResponse(RequestVoteResponse(term: request.term, voteGranted: true, preVote: request.preVote)), to: from)
            if !request.preVote {
                electionElapsed = 0
                vote = from
            }
        } else {
            send(.requestVoteResponse(RequestVoteResponse(term: term, voteGranted: false, preVote: request.preVote)), to: from)
        }
    }

    // MARK: Step

    /// Handles one message from a peer.
    func step(_ m: Message) {
        if m.term > term {
            if case .requestVote(let request) = m.body {
                // Thesis §4.2.3: a server that heard from a current leader within the minimum
                // election timeout neither updates its term nor grants its vote. It still
                // answers (a refusal at its own, lower term, which the candidate discards or
                // counts as a lost vote): every request gets exactly one response, in order,
                // which is what lets the transport send each response back on its request's
                // connection with the request's id (proto/raft.proto, `Envelope`).
                let inLease = config.checkQuorum && lead != 0 && electionElapsed < electionTimeout
                if inLease && !request.leadershipTransfer {
                    send(.requestVoteResponse(RequestVoteResponse(term: term, voteGranted: false, preVote: request.preVote)), to: m.from)
                    return
                }
                if !request.preVote {
                    becomeFollower(term: m.term, lead: 0)
                }
                // A pre-vote never changes our term.
            } else if case .requestVoteResponse(let response) = m.body, response.preVote, response.voteGranted {
                // A granted pre-vote carries the term we would campaign in; we move to it only
                // once a majority grants.
            } else {
                // Figure 2, Rules for All Servers: "If RPC request or response contains term
                // T > currentTerm: set currentTerm = T, convert to follower".
                becomeFollower(term: m.term, lead: isLeaderMessage(m.body) ? m.from : 0)
            }
        } else if m.term < term {
            rejectStaleTerm(m)
            return
        }

        if case .requestVote(let request) = m.body {
            handleRequestVote(from: m.from, request)
            return
        }
        if case .timeoutNow = m.body {
            handleTimeoutNow(from: m.from)
            return
        }
        if case .readIndex(let request) = m.body {
            handleReadIndexRequest(from: m.from, request)
            return
        }
        if case .readIndexResponse(let response) = m.body {
            handleReadIndexResponse(from: m.from, response)
            return
        }
        switch role {
        case .leader: stepLeader(m)
        case .candidate, .preCandidate: stepCandidate(m)
        case .follower: stepFollower(m)
        }
    }

    private func isLeaderMessage(_ body: RaftMessage) -> Bool {
        switch body {
        case .appendEntries, .installSnapshot, .timeoutNow: true
        default: false
        }
    }

    /// Figure 2, AppendEntries/RequestVote receiver step 1: "Reply false if term < currentTerm".
    /// The reply carries our term, so a stale leader or candidate steps down (and a node that
    /// raised its term in a partition makes the leader notice it). Stale responses are dropped.
    private func rejectStaleTerm(_ m: Message) {
        switch m.body {
        case .appendEntries(let request):
            send(.appendEntriesResponse(AppendEntriesResponse(term: term, success: false, prevLogIndex: request.prevLogIndex)), to: m.from)
        case .installSnapshot(let request):
            send(.installSnapshotResponse(InstallSnapshotResponse(term: term, lastIncludedIndex: request.lastIncludedIndex)), to: m.from)
        case .requestVote(let request):
            send(.requestVoteResponse(RequestVoteResponse(term: term, voteGranted: false, preVote: request.preVote)), to: m.from)
        case .timeoutNow:
            send(.timeoutNowResponse(TimeoutNowResponse(term: term)), to: m.from)
        case .readIndex(let request):
            send(.readIndexResponse(ReadIndexResponse(term: term, context: request.context, success: false)), to: m.from)
        case .requestVoteResponse, .appendEntriesResponse, .installSnapshotResponse, .timeoutNowResponse,
            .readIndexResponse, .memberRefused:
            break
        }
    }

    private func stepFollower(_ m: Message) {
        switch m.body {
        case .appendEntries(let request):
            electionElapsed = 0
            lead = m.from
            handleAppendEntries(from: m.from, request)
        case .installSnapshot(let request):
            electionElapsed = 0
            lead = m.from
            handleInstallSnapshot(from: m.from, request)
        default:
            break
        }
    }

    private func stepCandidate(_ m: Message) {
        switch m.body {
        case .appendEntries(let request):
            // Figure 2, Candidates: "If AppendEntries RPC received from new leader: convert to
            // follower".
            becomeFollower(term: m.term, lead: m.from)
            handleAppendEntries(from: m.from, request)
        case .installSnapshot(let request):
            becomeFollower(term: m.term, lead: m.from)
            handleInstallSnapshot(from: m.from, request)
        case .requestVoteResponse(let response):
            guard response.preVote == (role == .preCandidate), votes[m.from] == nil else { return }
            votes[m.from] = response.voteGranted
            switch quorum.voteResult(votes) {
            case .won:
                // Figure 2, Candidates: "If votes received from majority of servers: become leader".
                if role == .preCandidate { campaign(preVote: false) } else { becomeLeader() }
            case .lost:
                becomeFollower(term: term, lead: 0)
            case .pending:
                break
            }
        default:
            break
        }
    }

    private func stepLeader(_ m: Message) {
        switch m.body {
        case .appendEntriesResponse(let response):
            handleAppendEntriesResponse(from: m.from, response)
        case .installSnapshotResponse(let response):
            handleInstallSnapshotResponse(from: m.from, response)
        default:
            break
        }
    }

    // MARK: Proposals

    /// Figure 2, Leaders: "If command received from client: append entry to local log". The
    /// entries go out at the next `ready()`, batched with any other proposal made before it.
    func propose(_ data: [UInt8]) throws -> UInt64 {
        guard role == .leader else { throw RaftError.notLeader(leaderID: lead) }
        // Thesis §3.10: while handing leadership over (or leaving, removed), new entries would
        // only delay the target's catching up; the client retries with the new leader.
        guard leadTransferee == 0 && retiringAt == 0 && !(pendingConfRemovesLeader && pendingConfIndex > log.applied) else {
            throw RaftError.proposalDropped
        }
        appendEntries([LogEntry(index: 0, term: 0, type: .normal, data: data)])
        pendingBroadcast = true
        return log.lastIndex
    }

    func appendEntries(_ newEntries: [LogEntry]) {
        var entries = newEntries
        let last = log.lastIndex
        for i in entries.indices {
            entries[i].index = last + 1 + UInt64(i)
            entries[i].term = term
        }
        log.append(entries)
    }

    /// Thesis §10.2.1: the leader sends its entries before writing them, so its own copy counts
    /// toward a majority only once the driver has made it durable (`RawNode.advance`).
    func persisted(through index: UInt64, term entryTerm: UInt64) {
        guard role == .leader, log.term(index) == entryTerm, progress[id]?.maybeUpdate(index) == true else { return }
        maybeCommit()
    }

    /// Sends the entries proposed since the last broadcast.
    func flushProposals() {
        guard pendingBroadcast else { return }
        pendingBroadcast = false
        if role == .leader { bcastAppend(sendIfEmpty: false) }
    }

    /// §5.3 "followers apply up to leaderCommit": every AppendEntries carries the commit index,
    /// so under load followers learn it with the next entries, and with one client the next
    /// write's append follows within a round trip. A follower that has not heard the newest
    /// commit index by the next tick gets an empty append then. (Announcing every advance at
    /// once doubled the messages per write at one client, and their processing competed with
    /// the next write for the CPU.)
    private func flushCommit() {
        for peer in peers where (progress[peer]?.sentCommit ?? .max) < log.committed {
            sendAppend(to: peer, sendIfEmpty: true)
        }
    }

    // MARK: Leader replication

    /// §5.3 / Figure 2, Leaders: "If there exists an N such that N > commitIndex, a majority of
    /// matchIndex[i] ≥ N, and log[N].term == currentTerm: set commitIndex = N". The term test is
    /// §5.4.2 (Figure 8): entries of earlier terms commit only indirectly.
    /// Followers hear the new index with the next append (see `flushCommit`).
    func maybeCommit() {
        let index = quorum.committedIndex { progress[$0]?.match ?? 0 }
        guard log.maybeCommit(index, term: term) else { return }
        // The first commit of this term lets the reads that waited for it start (§6.4 step 1).
        for origin in reads.committedInTerm() { startRead(origin) }
    }

    private func bcastAppend(sendIfEmpty: Bool) {
        pendingBroadcast = false
        for peer in peers where sendAppend(to: peer, sendIfEmpty: sendIfEmpty) {
            // Fill the pipeline: a follower in replicate state takes up to the window.
            while sendAppend(to: peer, sendIfEmpty: false) {}
        }
    }

    /// Sends the entries from `nextIndex` (§5.3), or a snapshot if they were compacted (§7).
    /// Returns whether a message was sent.
    @discardableResult
    func sendAppend(to peer: UInt64, sendIfEmpty: Bool) -> Bool {
        guard var pr = progress[peer], !pr.isPaused else { return false }
        let last = log.lastIndex
        if pr.next > last + 1 { pr.next = last + 1 }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(prevIndex) else { return sendSnapshot(to: peer) }
        let entries: [LogEntry]
        do {
            let hi = min(last + 1, pr.next + UInt64(config.maxEntriesPerMsg))
            entries = try log.slice(pr.next, hi, maxSize: config.maxSizePerMsg)
        } catch {
            return sendSnapshot(to: peer)
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        let request = AppendEntriesRequest(
            term: term, leaderID: id, prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: entries,
            leaderCommit: log.committed, readRound: reads.round)
        send(.appendEntries(request), to: peer)
        pr.sentEntries(count: entries.count, lastIndex: entries.last?.index ?? prevIndex)
        pr.sentCommit = log.committed
        progress[peer] = pr
        return true
    }

    /// Heartbeats (§5.2) are AppendEntries without entries whose `prevLogIndex` is the
    /// follower's match index, so they always pass the consistency check and safely carry
    /// `leaderCommit` (the follower commits up to min(leaderCommit, matchIndex)).
    private func bcastHeartbeat() {
        // A lost TimeoutNow is sent again rather than waiting out the transfer's timeout.
        if leadTransferee != 0 { sendTimeoutNowIfCaughtUp() }
        for peer in peers {
            guard var pr = progress[peer] else { continue }
            pr.catchUpArmed = true
            progress[peer] = pr
            if pr.state == .snapshot {
                pr.snapshotTransfer?.onHeartbeat()
                progress[peer] = pr
                sendSnapshotChunks(to: peer)
            }
            sendHeartbeat(to: peer)
        }
    }

    func sendHeartbeat(to peer: UInt64) {
        guard var pr = progress[peer] else { return }
        pr.sentCommit = log.committed
        progress[peer] = pr
        var prevIndex = min(pr.match, log.lastIndex)
        var prevTerm: UInt64 = 0
        if let t = log.term(prevIndex) { prevTerm = t } else { prevIndex = 0 }
        let request = AppendEntriesRequest(
            term: term, leaderID: id, prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: [],
            leaderCommit: log.committed, readRound: reads.round)
        send(.appendEntries(request), to: peer)
    }

    private func handleAppendEntriesResponse(from peer: UInt64, _ response: AppendEntriesResponse) {
        // Once everything below is done: a removed leader may hand over now (and step down).
        defer { if retiringAt != 0 && response.success { retireIfConfirmed(by: peer) } }
        if let member = response.member { recordMemberAnnouncement(member, from: peer) }
        guard var pr = progress[peer] else { return }
        pr.recentActive = true
        pr.lastActiveTick = ticks
        if response.readRound > pr.readRound {
            // Any answer at our term, success or rejection, shows the follower still took us
            // for leader when it handled a request of that round (§6.4 step 3).
            pr.readRound = response.readRound
            progress[peer] = pr
            releaseConfirmedReads()
        }
        guard response.success else {
            progress[peer] = pr
            handleRejection(from: peer, response)
            return
        }
        // Figure 2, Leaders: "If successful: update nextIndex and matchIndex for follower".
        let updated = pr.maybeUpdate(response.matchIndex)
        // Any current success ends a probe: the follower provably matches through `match`.
        let probeDone = pr.state == .probe && response.matchIndex == pr.match
        if updated || probeDone {
            switch pr.state {
            case .probe:
                pr.becomeReplicate()
            case .replicate:
                pr.inflights.free(upTo: pr.match)
            case .snapshot:
                if let transfer = pr.snapshotTransfer, pr.match >= transfer.snapshot.metadata.index {
                    pr.becomeReplicate()
                }
            }
            progress[peer] = pr
            maybeCommit()
            while sendAppend(to: peer, sendIfEmpty: false) {}
            if peer == leadTransferee { sendTimeoutNowIfCaughtUp() }
        } else {
            // Nothing new (a heartbeat's answer or a duplicate): the follower is alive, so let a
            // paused probe go on and free one slot of a full window in case a message was lost.
            if pr.state == .probe { pr.probeSent = false }
            if pr.state == .replicate && pr.inflights.isFull { pr.inflights.freeFirstOne() }
            // If it is behind, one catch-up AppendEntries per heartbeat interval finds a lost
            // message (its rejection starts a probe). Not more: heartbeats and appends share one
            // message type, so answering every such answer with another empty append would
            // ping-pong forever while entries are in flight.
            let catchUp = pr.match < log.lastIndex && pr.catchUpArmed
            if catchUp { pr.catchUpArmed = false }
            progress[peer] = pr
            if catchUp {
                sendAppend(to: peer, sendIfEmpty: true)
            }
        }
    }

    /// Figure 2, Leaders: "If AppendEntries fails because of log inconsistency: decrement
    /// nextIndex and retry" — with §5.3's optimization: skip the follower's whole conflicting
    /// term at once (to our last entry of that term, or to its first index of it), so a follower
    /// far behind is repaired in one round trip per term. Rejections of requests older than the
    /// one the progress waits for (told apart by the `prevLogIndex` echo) are ignored.
    private func handleRejection(from peer: UInt64, _ response: AppendEntriesResponse) {
        guard var pr = progress[peer] else { return }
        let rejected = response.prevLogIndex
        switch pr.state {
        case .replicate:
            if rejected <= pr.match { return }
        case .probe:
            if rejected != pr.next - 1 { return }
        case .snapshot:
            return
        }
        var next = response.conflictIndex
        if response.conflictTerm != 0, let last = lastIndex(ofTerm: response.conflictTerm, atOrBelow: rejected) {
            next = last + 1
        }
        next = max(min(next, rejected), pr.match + 1)
        pr.becomeProbe()
        pr.next = next
        progress[peer] = pr
        sendAppend(to: peer, sendIfEmpty: true)
    }

    /// Our last index at or below `index` whose entry has `term`, if any.
    private func lastIndex(ofTerm wanted: UInt64, atOrBelow index: UInt64) -> UInt64? {
        var i = min(index, log.lastIndex)
        while true {
            guard let t = log.term(i) else { return nil }
            if t == wanted { return i }
            if t < wanted || i == 0 { return nil }
            i -= 1
        }
    }

    // MARK: Leader snapshots

    /// §7: "the leader must occasionally send snapshots to followers that lag behind" — when the
    /// entries at the follower's `nextIndex` were compacted.
    private func sendSnapshot(to peer: UInt64) -> Bool {
        guard var pr = progress[peer] else { return false }
        let snapshot: Snapshot
        do {
            snapshot = try log.snapshot()
        } catch {
            return false
        }
        guard !snapshot.isEmpty else { return false }
        pr.becomeSnapshot(snapshot)
        progress[peer] = pr
        sendSnapshotChunks(to: peer)
        return true
    }

    /// Sends the chunks that fit in the window (Figure 13 `offset`, `data`, `done`). A stream the
    /// storage keeps is read a chunk at a time; if its snapshot was replaced meanwhile, the
    /// transfer starts over with the newer one.
    private func sendSnapshotChunks(to peer: UInt64) {
        guard var pr = progress[peer], pr.state == .snapshot, var transfer = pr.snapshotTransfer else { return }
        let metadata = transfer.snapshot.metadata
        let storage = log.storage
        while true {
            let chunk: (offset: Int, data: [UInt8], done: Bool)?
            do {
                chunk = try transfer.nextChunk(
                    chunkBytes: config.maxSnapshotChunkBytes, window: config.maxSnapshotChunksInFlight
                ) { offset, count in
                    try storage.snapshotChunk(index: metadata.index, offset: offset, count: count)
                }
            } catch {
                // Replaced by a newer snapshot (or unreadable): start over with the current one
                // at the next heartbeat, when probing finds the entries compacted again.
                pr.becomeProbe()
                progress[peer] = pr
                return
            }
            guard let chunk else { break }
            let request = InstallSnapshotRequest(
                term: term, leaderID: id, lastIncludedIndex: metadata.index, lastIncludedTerm: metadata.term,
                offset: UInt64(chunk.offset), data: chunk.data, done: chunk.done, configuration: metadata.configuration)
            send(.installSnapshot(request), to: peer)
        }
        pr.snapshotTransfer = transfer
        progress[peer] = pr
    }

    private func handleInstallSnapshotResponse(from peer: UInt64, _ response: InstallSnapshotResponse) {
        guard var pr = progress[peer] else { return }
        pr.recentActive = true
        pr.lastActiveTick = ticks
        guard pr.state == .snapshot, var transfer = pr.snapshotTransfer,
            response.lastIncludedIndex == transfer.snapshot.metadata.index
        else {
            progress[peer] = pr
            return
        }
        if response.done {
            // The follower's log now matches ours through the snapshot: resume replication.
            _ = pr.maybeUpdate(response.lastIncludedIndex)
            pr.becomeReplicate()
            progress[peer] = pr
            while sendAppend(to: peer, sendIfEmpty: false) {}
            return
        }
        transfer.onAnswer(nextOffset: Int(clamping: response.nextOffset))
        pr.snapshotTransfer = transfer
        progress[peer] = pr
        sendSnapshotChunks(to: peer)
    }

    // MARK: Follower

    /// Figure 2, AppendEntries receiver, steps 2–5 (step 1, the term check, is in `step`).
    private func handleAppendEntries(from leader: UInt64, _ request: AppendEntriesRequest) {
        leaderCommit = max(leaderCommit, request.leaderCommit)
        var prevIndex = request.prevLogIndex
        var prevTerm = request.prevLogTerm
        var entries = request.entries
        let committed = log.committed
        if prevIndex < committed {
            // Our entries through commitIndex are committed, so by Log Matching and Leader
            // Completeness (§5.4.3) they equal the leader's: check from our commit index on.
            let skip = Int(committed - prevIndex)
            if entries.count <= skip {
                respondAppend(to: leader, request, success: true, matchIndex: committed)
                return
            }
            prevTerm = entries[skip - 1].term
            prevIndex = committed
            entries.removeFirst(skip)
        }
        if let lastNew = log.maybeAppend(
            prevIndex: prevIndex, prevTerm: prevTerm, leaderCommit: request.leaderCommit, entries: entries)
        {
            respondAppend(to: leader, request, success: true, matchIndex: lastNew)
            return
        }
        // Step 2: "Reply false if log doesn't contain an entry at prevLogIndex whose term matches
        // prevLogTerm", with the fast-backtracking hint of §5.3: our term at prevLogIndex and the
        // first index we hold of it, or just our length when the log is too short.
        var conflictIndex: UInt64
        var conflictTerm: UInt64 = 0
        let last = log.lastIndex
        if prevIndex > last {
            conflictIndex = last + 1
        } else {
            conflictTerm = log.term(prevIndex) ?? 0
            conflictIndex = prevIndex
            while conflictIndex > log.committed + 1, log.term(conflictIndex - 1) == conflictTerm {
                conflictIndex -= 1
            }
        }
        let response = AppendEntriesResponse(
            term: term, success: false, matchIndex: 0, conflictIndex: conflictIndex, conflictTerm: conflictTerm,
            prevLogIndex: request.prevLogIndex, readRound: request.readRound, member: memberAnnouncement())
        send(.appendEntriesResponse(response), to: leader)
    }

    private func respondAppend(to leader: UInt64, _ request: AppendEntriesRequest, success: Bool, matchIndex: UInt64) {
        let response = AppendEntriesResponse(
            term: term, success: success, matchIndex: matchIndex, prevLogIndex: request.prevLogIndex,
            readRound: request.readRound, member: memberAnnouncement())
        send(.appendEntriesResponse(response), to: leader)
    }

    /// Figure 13, InstallSnapshot receiver. Chunks are accepted in order; a chunk at another
    /// offset is answered with the offset we expect. A snapshot we do not need (its index is
    /// committed here, or our log already holds its last entry) is answered `done` at once, so
    /// the leader moves on.
    private func handleInstallSnapshot(from leader: UInt64, _ request: InstallSnapshotRequest) {
        let index = request.lastIncludedIndex
        func reply(nextOffset: Int, done: Bool) {
            let response = InstallSnapshotResponse(
                term: term, lastIncludedIndex: index, nextOffset: UInt64(nextOffset), done: done)
            send(.installSnapshotResponse(response), to: leader)
        }
        let chunkEnd = Int(request.offset) + request.data.count
        if index <= log.committed {
            reply(nextOffset: chunkEnd, done: true)
            return
        }
        if log.matchTerm(index, request.lastIncludedTerm) {
            // Step 6: "If existing log entry has same index and term as snapshot's last included
            // entry, retain log entries following it and reply".
            log.commit(to: index)
            incomingSnapshot = nil
            reply(nextOffset: chunkEnd, done: true)
            return
        }
        // Step 2: "Create new snapshot file if first chunk (offset is 0)" — unless it is this
        // very transfer starting over (the leader heard nothing for a while): then it resumes
        // from what we have.
        let sameTransfer = incomingSnapshot.map {
            $0.metadata.index == index && $0.metadata.term == request.lastIncludedTerm && $0.leaderTerm == term
        } ?? false
        if request.offset == 0 && !sameTransfer {
            incomingSnapshot = IncomingSnapshot(
                metadata: SnapshotMetadata(index: index, term: request.lastIncludedTerm, configuration: request.configuration),
                leaderTerm: term)
        }
        guard var buffer = incomingSnapshot, buffer.metadata.index == index,
            buffer.metadata.term == request.lastIncludedTerm, buffer.leaderTerm == term
        else {
            reply(nextOffset: 0, done: false)
            return
        }
        let offset = Int(request.offset)
        if offset > buffer.received {
            reply(nextOffset: buffer.received, done: false)
            return
        }
        // Steps 3–4: write data into the snapshot at the given offset (the part not received
        // yet; the driver writes it before this reply goes out).
        if chunkEnd > buffer.received || buffer.received == 0 {
            let fresh = buffer.received - offset
            snapshotChunks.append(
                SnapshotChunk(
                    metadata: buffer.metadata, offset: buffer.received,
                    data: fresh == 0 ? request.data : Array(request.data[fresh...])))
            buffer.received = max(buffer.received, chunkEnd)
        }
        if request.done && chunkEnd == buffer.received {
            // Steps 5, 7, 8: the snapshot is complete; discard the log and let the driver
            // persist the snapshot and reset the state machine from it (`Ready.snapshot`: the
            // stream is the one the chunks assembled).
            log.restore(Snapshot(metadata: buffer.metadata, size: buffer.received))
            incomingSnapshot = nil
            reply(nextOffset: buffer.received, done: true)
            return
        }
        incomingSnapshot = buffer
        reply(nextOffset: buffer.received, done: false)
    }
}
