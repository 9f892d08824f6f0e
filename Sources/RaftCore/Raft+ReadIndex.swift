import RaftMessages

/// Linearizable reads without log entries (Raft thesis §6.4, ReadIndex), on every member.
///
/// On the leader: (1) it waits until an entry of its term is committed, (2) records its commit
/// index as the read's index, (3) confirms it still leads with a heartbeat round a majority
/// answers, after which (4) the driver answers once it has applied through the index.
///
/// On a follower or learner the read is forwarded (etcd's `MsgReadIndex`): the reads asked
/// since the last `ready()` go to the leader in one `ReadIndexRequest`; the leader runs steps
/// 1–3 for it as for its own reads and answers with the index, and the follower's driver
/// answers at step 4 from its own state machine. Any member can thus serve linearizable reads,
/// and read load spreads over the cluster while the leader only confirms rounds.
///
/// Every `ReadIndexRequest` gets exactly one answer, in arrival order (the transport relies
/// on it): a refusal when the receiver does not lead in the request's term or stops leading
/// before confirming. A read the follower gives up on (refused, no answer within an election
/// timeout, leader or term changed) is reported in `Ready.droppedReads`.
extension Raft {
    func readIndex(_ requestID: UInt64) throws {
        switch role {
        case .leader:
            requestRead(.local(requestID: requestID))
        case .follower where lead != 0:
            forwardedReads.unsent.append(requestID)
        default:
            throw RaftError.notLeader(leaderID: lead)
        }
    }

    /// Step 1: until an entry of its own term commits, the leader may not know the latest
    /// commit index (Leader Completeness guarantees the entries, not the index).
    private func requestRead(_ origin: ReadOrigin) {
        if log.term(log.committed) != term {
            reads.awaitCommit(origin)
        } else {
            startRead(origin)
        }
    }

    /// Steps 2–3: record the commit index; a majority must answer a request sent after now.
    func startRead(_ origin: ReadOrigin) {
        if quorum.voters == [id] {
            confirm(origin, index: log.committed)
        } else {
            reads.enqueue(origin, index: log.committed)
        }
    }

    private func confirm(_ origin: ReadOrigin, index: UInt64) {
        switch origin {
        case .local(let requestID):
            reads.ready.append(ReadState(requestID: requestID, index: index))
        case .forwarded(let peer, let context):
            send(.readIndexResponse(ReadIndexResponse(term: term, context: context, success: true, readIndex: index)), to: peer)
        }
    }

    /// At `ready()`: the leader sends one heartbeat round for the reads that arrived since the
    /// last round started, so a batch of reads costs one round trip; a follower forwards its new
    /// reads in one request. (One round, one request in flight at a time: see `ReadIndexQueue`
    /// and `ForwardedReads`.)
    func flushReads() {
        if role == .leader {
            guard reads.startRound() else { return }
            for peer in peers { sendHeartbeat(to: peer) }
        } else if forwardedReads.batchDue {
            guard role == .follower, lead != 0 else {
                droppedReads += forwardedReads.abandonAll()
                return
            }
            let context = forwardedReads.sendBatch(to: lead, term: term, at: ticks)
            send(.readIndex(ReadIndexRequest(term: term, context: context)), to: lead)
        }
    }

    func releaseConfirmedReads() {
        let confirmed = quorum.committedIndex { $0 == id ? reads.round : progress[$0]?.readRound ?? 0 }
        for read in reads.release(confirmedRound: confirmed) {
            confirm(.forwarded(peer: read.peer, context: read.context), index: read.index)
        }
    }

    /// A follower's batch of reads. Only the leader of the request's term serves it.
    func handleReadIndexRequest(from peer: UInt64, _ request: ReadIndexRequest) {
        guard role == .leader else {
            send(.readIndexResponse(ReadIndexResponse(term: term, context: request.context, success: false)), to: peer)
            return
        }
        requestRead(.forwarded(peer: peer, context: request.context))
    }

    /// The leader's answer to one of this follower's batches: only from the member it was sent
    /// to, in the term it was sent in.
    func handleReadIndexResponse(from peer: UInt64, _ response: ReadIndexResponse) {
        guard let batch = forwardedReads.inFlight[response.context], batch.leader == peer else { return }
        forwardedReads.inFlight[response.context] = nil
        guard response.success, response.term == batch.term else {
            droppedReads += batch.requestIDs
            return
        }
        for requestID in batch.requestIDs {
            reads.ready.append(ReadState(requestID: requestID, index: response.readIndex))
        }
    }

    /// Leadership or term changes: the leader refuses the forwarded reads it has not confirmed
    /// (each request is answered) and drops its own; a follower gives up what it forwarded.
    func abandonReads(newTerm: UInt64) {
        for origin in reads.abandon() {
            switch origin {
            case .local(let requestID):
                droppedReads.append(requestID)
            case .forwarded(let peer, let context):
                send(.readIndexResponse(ReadIndexResponse(term: newTerm, context: context, success: false)), to: peer)
            }
        }
        droppedReads += forwardedReads.abandonAll()
    }

    /// Per tick: batches unanswered for an election timeout are given up (the request or its
    /// answer was lost, or the leader is gone).
    func expireForwardedReads() {
        guard !forwardedReads.inFlight.isEmpty, ticks >= UInt64(electionTimeout) else { return }
        droppedReads += forwardedReads.abandon(sentBy: ticks - UInt64(electionTimeout))
    }
}
