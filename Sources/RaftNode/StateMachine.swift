import RaftMessages

/// The replicated service a node drives: what users embed in their own program.
///
/// The node calls these methods from its loop only, one at a time, never concurrently:
/// implementations need no locks. All members apply the same entries in the same order, so
/// `apply` must be deterministic: its result may depend only on the entry and the state.
public protocol StateMachine: AnyObject, SendableMetatype {
    /// What a proposer learns once its entry is applied (the key-value store answers a
    /// `ClientResponse`).
    associatedtype Result: Sendable

    /// Applies one committed entry (§5.3: "apply log[lastApplied] to state machine"). Returns the
    /// result for the entry's proposer, or nil for entries with nothing to answer (no-ops).
    func apply(_ entry: LogEntry) -> Result?

    /// Writes the whole state, as of the last applied entry, as one zlib stream (RFC 1950),
    /// handing compressed bytes to `sink` piece by piece (§7). The stream is what the node
    /// stores on disk and sends to followers in InstallSnapshot chunks.
    func writeSnapshot(to sink: ([UInt8]) throws -> Void) throws

    /// Replaces the state by the one the zlib stream `snapshot` holds, as of log index `index`.
    /// Must leave the state unchanged when it throws.
    func restore(index: UInt64, snapshot: [UInt8]) throws

    /// The uncompressed size of the state as of the last snapshot written or restored, when the
    /// machine knows it (reported as `raft_snapshot_bytes{form="raw"}`).
    var snapshotRawBytes: Int? { get }
}

extension StateMachine {
    public var snapshotRawBytes: Int? { nil }
}
