/// A linearizable read the leader has confirmed (etcd's `ReadState`): the driver may answer it
/// from its state machine once it has applied `index`.
public struct ReadState: Sendable, Hashable {
    /// The caller's id for the read, as given to `RawNode.readIndex(_:)`.
    public var requestID: UInt64
    /// The leader's commit index when the read arrived (thesis §6.4 "readIndex").
    public var index: UInt64

    public init(requestID: UInt64, index: UInt64) {
        self.requestID = requestID
        self.index = index
    }
}

/// Who asked the leader for a read: its own driver, or a follower forwarding a batch of its
/// reads (`ReadIndexRequest`).
enum ReadOrigin: Hashable {
    case local(requestID: UInt64)
    case forwarded(peer: UInt64, context: UInt64)
}

/// The leader's reads in flight (etcd's `readOnly`, safe mode), in arrival order.
///
/// Reads are grouped in rounds: every read that arrives before the next round starts shares
/// one heartbeat round, and a round is confirmed once a majority (the leader included) has
/// answered an AppendEntries carrying it or a later one. Rounds only grow, so confirming a round
/// confirms every earlier read. One round is in flight at a time: reads arriving meanwhile wait
/// for the next, so under load a round carries many reads and costs the same messages as one
/// (a round whose answers are lost is confirmed by the next heartbeats, which carry it).
struct ReadIndexQueue {
    private struct Pending {
        var origin: ReadOrigin
        var index: UInt64
        var round: UInt64
    }

    /// The latest round sent (requests carry it; 0: none in this term).
    private(set) var round: UInt64 = 0
    /// The latest round a majority confirmed.
    private(set) var confirmedRound: UInt64 = 0
    /// Reads (or a retiring leader) wait for the heartbeat round after `round`.
    private(set) var roundWanted = false

    /// A round should start at the next `ready()`: one is wanted and none is in flight.
    var roundDue: Bool { roundWanted && confirmedRound >= round }
    private var pending: [Pending] = []
    /// Reads that arrived before the leader committed an entry of its term.
    private var waitingForCommit: [ReadOrigin] = []
    /// Confirmed reads of this node's driver, drained into the next `Ready`.
    var ready: [ReadState] = []

    var isEmpty: Bool { pending.isEmpty && waitingForCommit.isEmpty && ready.isEmpty }

    mutating func awaitCommit(_ origin: ReadOrigin) {
        waitingForCommit.append(origin)
    }

    /// The reads that waited for the leader's first commit of its term; they can start now.
    mutating func committedInTerm() -> [ReadOrigin] {
        defer { waitingForCommit = [] }
        return waitingForCommit
    }

    mutating func enqueue(_ origin: ReadOrigin, index: UInt64) {
        pending.append(Pending(origin: origin, index: index, round: round + 1))
        roundWanted = true
    }

    /// Asks for a heartbeat round at the next `ready()` even without reads; returns that round.
    mutating func requestRound() -> UInt64 {
        roundWanted = true
        return round + 1
    }

    /// Opens the round the queued reads wait for; false if none is due.
    mutating func startRound() -> Bool {
        guard roundDue else { return false }
        roundWanted = false
        round += 1
        return true
    }

    /// Confirms the reads of `confirmedRound` and earlier: this node's go to `ready`; the
    /// forwarded ones are returned, in arrival order, for the leader to answer.
    mutating func release(confirmedRound: UInt64) -> [(peer: UInt64, context: UInt64, index: UInt64)] {
        self.confirmedRound = max(self.confirmedRound, confirmedRound)
        var released = 0
        var forwarded: [(peer: UInt64, context: UInt64, index: UInt64)] = []
        for read in pending {
            guard read.round <= confirmedRound else { break }
            switch read.origin {
            case .local(let requestID): ready.append(ReadState(requestID: requestID, index: read.index))
            case .forwarded(let peer, let context): forwarded.append((peer, context, read.index))
            }
            released += 1
        }
        pending.removeFirst(released)
        return forwarded
    }

    /// Ends the term's reads (this node stops leading): returns every unconfirmed read in
    /// arrival order. Confirmed reads stay in `ready`: their index remains valid.
    mutating func abandon() -> [ReadOrigin] {
        let unconfirmed = pending.map(\.origin) + waitingForCommit
        pending = []
        waitingForCommit = []
        roundWanted = false
        round = 0
        confirmedRound = 0
        return unconfirmed
    }
}

/// A follower's (or learner's) reads forwarded to the leader (etcd's `MsgReadIndex`): one
/// `ReadIndexRequest` in flight at a time, carrying every read asked since the previous one was
/// sent; the next goes when it is answered (or given up). Under load a request carries many
/// reads, at the cost of at most one extra round trip for a read that arrives meanwhile.
struct ForwardedReads {
    struct Batch {
        var requestIDs: [UInt64]
        /// Where and in which term it went: only that leader's answer in that term counts.
        var leader: UInt64
        var term: UInt64
        /// `Raft.ticks` when sent: a batch unanswered for an election timeout is given up.
        var sentAt: UInt64
    }

    /// Reads asked since the last `ready()`.
    var unsent: [UInt64] = []
    /// Batches sent, by context.
    var inFlight: [UInt64: Batch] = [:]
    /// Contexts count up from a random start, so that an answer meant for an earlier run of
    /// this member (the leader may answer a request it received before this member restarted)
    /// cannot match a batch of this one: it would carry an index from before the read arrived.
    private var lastContext: UInt64

    init(firstContext: UInt64 = 0) {
        lastContext = firstContext
    }

    var isEmpty: Bool { unsent.isEmpty && inFlight.isEmpty }
    /// A request should go at the next `ready()`.
    var batchDue: Bool { !unsent.isEmpty && inFlight.isEmpty }

    /// Moves the unsent reads into a new batch for `leader` in `term`; returns its context.
    mutating func sendBatch(to leader: UInt64, term: UInt64, at tick: UInt64) -> UInt64 {
        lastContext &+= 1
        inFlight[lastContext] = Batch(requestIDs: unsent, leader: leader, term: term, sentAt: tick)
        unsent = []
        return lastContext
    }

    /// Every read, sent or not (leadership changed): they are all given up.
    mutating func abandonAll() -> [UInt64] {
        let all = inFlight.keys.sorted().flatMap { inFlight[$0]!.requestIDs } + unsent
        inFlight = [:]
        unsent = []
        return all
    }

    /// The reads of batches sent at or before `tick`.
    mutating func abandon(sentBy tick: UInt64) -> [UInt64] {
        let expired = inFlight.filter { $0.value.sentAt <= tick }.keys.sorted()
        return expired.flatMap { inFlight.removeValue(forKey: $0)!.requestIDs }
    }
}
