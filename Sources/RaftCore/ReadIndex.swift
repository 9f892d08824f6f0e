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

/// The leader's reads in flight (etcd's `readOnly`, safe mode), in arrival order.
///
/// Reads are grouped in rounds: every read that arrives before the next `ready()` shares one
/// heartbeat round, and a round is confirmed once a majority (the leader included) has answered
/// an AppendEntries carrying it or a later one. Rounds only grow, so confirming a round confirms
/// every earlier read.
struct ReadIndexQueue {
    private struct Pending {
        var requestID: UInt64
        var index: UInt64
        var round: UInt64
    }

    /// The latest round sent (requests carry it; 0: none in this term).
    private(set) var round: UInt64 = 0
    /// Reads waiting for the heartbeat round after `round`.
    private(set) var roundWanted = false
    private var pending: [Pending] = []
    /// Reads that arrived before the leader committed an entry of its term.
    private var waitingForCommit: [UInt64] = []
    /// Confirmed reads, drained into the next `Ready`.
    var ready: [ReadState] = []

    var isEmpty: Bool { pending.isEmpty && waitingForCommit.isEmpty && ready.isEmpty }

    mutating func awaitCommit(_ requestID: UInt64) {
        waitingForCommit.append(requestID)
    }

    /// The reads that waited for the leader's first commit of its term; they can start now.
    mutating func committedInTerm() -> [UInt64] {
        defer { waitingForCommit = [] }
        return waitingForCommit
    }

    mutating func enqueue(_ requestID: UInt64, index: UInt64) {
        pending.append(Pending(requestID: requestID, index: index, round: round + 1))
        roundWanted = true
    }

    /// Asks for a heartbeat round at the next `ready()` even without reads; returns that round.
    mutating func requestRound() -> UInt64 {
        roundWanted = true
        return round + 1
    }

    /// Opens the round the queued reads wait for; false if none is wanted.
    mutating func startRound() -> Bool {
        guard roundWanted else { return false }
        roundWanted = false
        round += 1
        return true
    }

    mutating func release(confirmedRound: UInt64) {
        var released = 0
        for read in pending {
            guard read.round <= confirmedRound else { break }
            ready.append(ReadState(requestID: read.requestID, index: read.index))
            released += 1
        }
        pending.removeFirst(released)
    }
}
