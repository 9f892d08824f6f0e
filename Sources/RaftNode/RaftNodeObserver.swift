import RaftMessages

/// What a node reports as it runs, for metrics. Calls come from the node's event loop (and, for
/// durations measured there, right after the event): implementations must be cheap and must
/// not block — atomics or a short lock, never I/O.
public protocol RaftNodeObserver: Sendable {
    /// After every processed batch whose status differs from the previous one.
    func statusChanged(from old: RaftNodeStatus, to new: RaftNodeStatus)
    /// A proposal made on this node (as leader) was committed and applied.
    func proposalCommitted(after latency: Duration)
    /// A proposal failed (not leader, leadership changed, stopped).
    func proposalFailed()
    /// This node wrote a snapshot of its state machine, in `duration` from the view being taken
    /// to the file being published (the loop kept running meanwhile).
    func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int, duration: Duration)
    /// This node installed a snapshot received from the leader (`duration`: rebuilding the state
    /// machine from it; `rawBytes` when known).
    func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?, duration: Duration)
    /// The loop stepped `count` ticks into the core, the oldest `lag` after it was due: ticks wait
    /// while the loop is busy or a storage write is in flight, and a follower whose ticks run
    /// late times out late (and a leader sends heartbeats late).
    func ticksStepped(_ count: Int, lag: Duration)
    /// An InstallSnapshot transfer ended: on the leader (`.send`) the follower has the whole
    /// snapshot or the transfer was given up (leadership lost, follower removed); on a follower
    /// (`.receive`) the snapshot is installed. `duration` runs from its first chunk.
    func snapshotTransferEnded(side: SnapshotTransferSide, duration: Duration)
    /// At start-up, the state machine was restored from the stored snapshot.
    func snapshotLoaded(index: UInt64, compressedBytes: Int, rawBytes: Int?)
    /// The configuration this node applies changed (at start-up, when a change or a snapshot was
    /// applied): the transport connects to added members and drops removed ones from here.
    func configurationChanged(to configuration: Configuration, byChange: Bool)
}

extension RaftNodeObserver {
    public func statusChanged(from old: RaftNodeStatus, to new: RaftNodeStatus) {}
    public func proposalCommitted(after latency: Duration) {}
    public func proposalFailed() {}
    public func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int, duration: Duration) {}
    public func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?, duration: Duration) {}
    public func ticksStepped(_ count: Int, lag: Duration) {}
    public func snapshotTransferEnded(side: SnapshotTransferSide, duration: Duration) {}
    public func snapshotLoaded(index: UInt64, compressedBytes: Int, rawBytes: Int?) {}
    public func configurationChanged(to configuration: Configuration, byChange: Bool) {}
}

/// Which end of an InstallSnapshot transfer this member is.
public enum SnapshotTransferSide: Sendable {
    case send, receive
}

/// Observes nothing.
public struct NoopNodeObserver: RaftNodeObserver {
    public init() {}
}
