import RaftMessages
import RaftNode

/// The key-value store is a `StateMachine`: a node applies committed entries to it and answers
/// the proposer with the `ClientResponse` the entry produced.
extension KVStore: StateMachine {
    public typealias Result = ClientResponse

    public func snapshot() -> KVSnapshotView { snapshotView() }

    /// Drops the current state first: a member replacing a large state by a snapshot never holds
    /// both (the node reads nothing until `restore`).
    public func makeRestorer() -> KVSnapshotReader {
        discardState()
        return KVSnapshotReader()
    }

    public func restore(_ restorer: KVSnapshotReader, index: UInt64) {
        restore(index: index, from: restorer)
    }
}
