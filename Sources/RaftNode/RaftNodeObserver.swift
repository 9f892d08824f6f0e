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
    /// This node wrote a snapshot of its state machine (`rawBytes` when the machine knows it).
    func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int?)
    /// This node installed a snapshot received from the leader.
    func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?)
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
    public func snapshotCreated(index: UInt64, compressedBytes: Int, rawBytes: Int?) {}
    public func snapshotInstalled(index: UInt64, compressedBytes: Int, rawBytes: Int?) {}
    public func snapshotLoaded(index: UInt64, compressedBytes: Int, rawBytes: Int?) {}
    public func configurationChanged(to configuration: Configuration, byChange: Bool) {}
}

/// Observes nothing.
public struct NoopNodeObserver: RaftNodeObserver {
    public init() {}
}
