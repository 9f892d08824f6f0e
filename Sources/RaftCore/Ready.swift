import RaftMessages

/// Everything the core wants done, handed to the driver by `RawNode.ready()` (etcd's `Ready`).
///
/// The driver must process it in this order, then call `RawNode.advance(_:)`:
/// 1. Persist durably: `snapshot` (if any) first, then `entries` (replacing any stored entries
///    from `entries[0].index` on), then `hardState` (if not nil). Sync before going on when
///    `mustSync` is true. This is Figure 2's "updated on stable storage before responding to
///    RPCs": a vote or an acknowledgement must never outlive a crash that lost its cause.
/// 2. Send `messages` (in any order; they may be lost or reordered by the network).
/// 3. Restore `snapshot` into the state machine, then apply `committedEntries` in order.
/// 4. Call `advance` with this same value.
///
/// Between `ready()` and `advance(_:)` no other call may be made on the node.
public struct Ready: Sendable {
    /// The new hard state, or nil if unchanged since the last `Ready`.
    public var hardState: HardState?
    /// Entries to append to stable storage.
    public var entries: [LogEntry]
    /// A snapshot received from the leader, to persist and to restore into the state machine.
    public var snapshot: Snapshot?
    /// Committed entries to apply to the state machine (they may include entries of `entries`:
    /// they are applied only after being persisted in step 1).
    public var committedEntries: [LogEntry]
    /// Messages to send once step 1 is durable.
    public var messages: [Message]
    /// The persisted writes of step 1 must be synced before step 2 (term, vote or log changed).
    public var mustSync: Bool

    /// True when there is nothing to do.
    public var isEmpty: Bool {
        hardState == nil && entries.isEmpty && snapshot == nil && committedEntries.isEmpty && messages.isEmpty
    }
}
