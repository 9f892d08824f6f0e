import RaftMessages

/// Everything the core wants done, handed to the driver by `RawNode.ready()` (etcd's `Ready`).
///
/// The driver must process it in this order, then call `RawNode.advance(_:)`:
/// 0. Send `messages` — they may go before or while step 1 runs (thesis §10.2.1).
/// 1. Write `snapshotChunks` into the snapshot being assembled (no sync needed: a crash loses
///    the partial snapshot, and the leader starts it over). Persist durably: `snapshot` (if any)
///    first — when `snapshot.isStreamed`, its stream is the one the chunks assembled — then
///    `entries` (replacing any stored entries
///    from `entries[0].index` on), then `hardState` (if not nil). Sync before going on when
///    `mustSync` is true. This is Figure 2's "updated on stable storage before responding to
///    RPCs": a vote or an acknowledgement must never outlive a crash that lost its cause.
/// 2. Send `messagesAfterPersist` (in any order; the network may lose or reorder them).
/// 3. Restore `snapshot` into the state machine, then apply `committedEntries` in order; answer
///    each of `readStates` once the applied index reaches its `index`, and each of
///    `droppedReads` with a retriable error.
/// 4. Call `advance` with this same value. The leader counts its own copy of `entries` toward
///    a majority only from here on.
///
/// Between `ready()` and `advance(_:)` the driver may go on stepping messages, ticks,
/// proposals and reads into the node (as etcd's `node` does while the application persists),
/// and send what `RawNode.takeUrgentMessages()` hands out; it may not call `ready()` again.
/// Everything else produced meanwhile comes in the next `Ready`. A `Ready` that carries a
/// snapshot or snapshot chunks is the exception: nothing may be stepped until it is advanced.
public struct Ready: Sendable {
    /// The new hard state, or nil if unchanged since the last `Ready`.
    public var hardState: HardState?
    /// Entries to append to stable storage.
    public var entries: [LogEntry]
    /// Pieces of a snapshot the leader is sending, in order (offset 0 starts a new one).
    public var snapshotChunks: [SnapshotChunk] = []
    /// A snapshot received from the leader, to persist and to restore into the state machine.
    public var snapshot: Snapshot?
    /// Committed entries to apply to the state machine (they may include entries of `entries`:
    /// they are applied only after being persisted in step 1).
    public var committedEntries: [LogEntry]
    /// The leader's AppendEntries and InstallSnapshot requests: they do not depend on this
    /// node's disk, so they may be sent at once, in parallel with step 1.
    public var messages: [Message]
    /// Messages to send once step 1 is durable: every response, and vote requests.
    public var messagesAfterPersist: [Message]
    /// Linearizable reads confirmed by a majority (thesis §6.4).
    public var readStates: [ReadState]
    /// Reads that will not be confirmed (see `RawNode.readIndex(_:)`): answer them with a
    /// retriable error.
    public var droppedReads: [UInt64]
    /// The persisted writes of step 1 must be synced before step 2 (term, vote or log changed).
    public var mustSync: Bool

    /// True when there is nothing to do.
    public var isEmpty: Bool {
        hardState == nil && entries.isEmpty && snapshot == nil && committedEntries.isEmpty && messages.isEmpty
            && messagesAfterPersist.isEmpty && readStates.isEmpty && droppedReads.isEmpty && snapshotChunks.isEmpty
    }
}
