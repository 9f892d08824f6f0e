import RaftMessages

/// How the leader currently replicates to one follower (etcd's `StateType` of `Progress`).
public enum ProgressState: Sendable, Hashable {
    /// Probing for the last matching index: one AppendEntries at a time, waiting for its answer.
    case probe
    /// The follower is known to match: entries stream optimistically, up to the inflights window.
    case replicate
    /// The follower needs entries the leader compacted: a snapshot is being sent in chunks.
    case snapshot
}

/// The leader's record of one follower (Figure 2 `nextIndex[]`/`matchIndex[]`, plus flow control).
struct Progress {
    /// Figure 2 `matchIndex`: highest index known to be replicated on the follower.
    var match: UInt64
    /// Figure 2 `nextIndex`: index of the next entry to send.
    var next: UInt64
    var state: ProgressState = .probe
    /// In probe state: a probe was sent and its answer (or a heartbeat answer) is awaited.
    var probeSent = false
    var inflights: Inflights
    /// Heard from since the last check-quorum round.
    var recentActive = false
    /// The leader's tick count when this member last answered (nil: not in this term), for the
    /// strict reconfiguration check: a change must leave a quorum of members heard from lately.
    var lastActiveTick: UInt64?
    /// In snapshot state: the transfer in progress.
    var snapshotTransfer: SnapshotTransfer?
    /// The latest ReadIndex round the follower answered (thesis §6.4).
    var readRound: UInt64 = 0
    /// A heartbeat went out since the last catch-up append sent on an answer with nothing new.
    var catchUpArmed = true
    /// The commit index carried by the latest AppendEntries sent.
    var sentCommit: UInt64 = 0

    init(next: UInt64, maxInflight: Int) {
        match = 0
        self.next = next
        inflights = Inflights(capacity: maxInflight)
    }

    mutating func becomeProbe() {
        next = match + 1
        state = .probe
        probeSent = false
        inflights.reset()
        snapshotTransfer = nil
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        inflights.reset()
        snapshotTransfer = nil
    }

    mutating func becomeSnapshot(_ snapshot: Snapshot) {
        state = .snapshot
        probeSent = false
        inflights.reset()
        snapshotTransfer = SnapshotTransfer(snapshot: snapshot)
    }

    /// An acknowledgement that the follower matches through `index`; false if it told nothing new.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// No more entries may be sent now.
    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    /// Records that an AppendEntries with `count` entries ending at `lastIndex` was sent.
    mutating func sentEntries(count: Int, lastIndex: UInt64) {
        switch state {
        case .replicate:
            if count > 0 {
                next = lastIndex + 1
                inflights.add(lastIndex)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("raft: sending entries in snapshot state")
        }
    }
}
