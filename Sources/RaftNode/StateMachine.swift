import RaftMessages

/// The replicated service a node drives: what users embed in their own program.
///
/// The node calls these methods from its loop only, one at a time, never concurrently:
/// implementations need no locks. All members apply the same entries in the same order, so
/// `apply` must be deterministic: its result may depend only on the entry and the state.
///
/// Snapshots (§7) never stop the loop for longer than it takes to copy a reference: the node
/// takes a point-in-time view with `snapshot()`, writes it out on another thread while entries
/// keep being applied, and rebuilds a received snapshot with a `Restorer` on another thread
/// before swapping it in with `restore(_:index:)`. The node compresses what the view writes (zlib)
/// into the snapshot file that it stores and sends to followers; machines see raw bytes only.
public protocol StateMachine: AnyObject, SendableMetatype {
    /// What a proposer learns once its entry is applied (the key-value store answers a
    /// `ClientResponse`).
    associatedtype Result: Sendable
    /// A point-in-time view of the state.
    associatedtype SnapshotView: StateMachineSnapshot
    /// Rebuilds the state from a snapshot's bytes.
    associatedtype Restorer: StateMachineRestorer

    /// Applies one committed entry (§5.3: "apply log[lastApplied] to state machine"). Returns the
    /// result for the entry's proposer, or nil for entries with nothing to answer (no-ops).
    func apply(_ entry: LogEntry) -> Result?

    /// The state as of the last applied entry, as a view that later `apply` calls do not change
    /// (copy-on-write). Must be cheap: the loop waits for it. The view is written out on another
    /// thread.
    func snapshot() -> SnapshotView

    /// A restorer for a snapshot about to replace the state; it is fed on another thread. The
    /// node reads nothing from the machine from here until `restore(_:index:)` (local reads
    /// are refused meanwhile), so a machine holding its state in memory may drop it now, to
    /// keep memory flat: the old and the new state are then never held together.
    func makeRestorer() throws -> Restorer

    /// Replaces the state by the one `restorer` rebuilt (after its `finish()` succeeded), as of
    /// log index `index`. Must be cheap: the loop waits for it.
    func restore(_ restorer: Restorer, index: UInt64)
}

/// A point-in-time view of a state machine, written out on a background thread (§7: "the
/// snapshot is written while the state machine keeps serving").
public protocol StateMachineSnapshot: Sendable {
    /// Writes the whole state as raw bytes, handing them to `sink` piece by piece (pieces of a
    /// few KiB to a few MiB keep memory flat: the node compresses and stores each as it comes).
    func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws
}

/// Rebuilds a state from the raw bytes a `StateMachineSnapshot` wrote, chunk by chunk, as they
/// are read from disk; runs on a background thread, then hands the result to
/// `StateMachine.restore(_:index:)` on the node's loop. Used by one thread at a time.
public protocol StateMachineRestorer: AnyObject {
    /// Feeds the next bytes (chunk boundaries are arbitrary).
    func consume(_ chunk: UnsafeRawBufferPointer) throws
    /// Declares the bytes complete; throws when they do not describe a whole state (the machine
    /// is then left as it was).
    func finish() throws
}
