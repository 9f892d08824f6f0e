import RaftMessages
import RaftNode

/// The key-value store is a `StateMachine`: a node applies committed entries to it and answers
/// the proposer with the `ClientResponse` the entry produced.
extension KVStore: StateMachine {
    public typealias Result = ClientResponse

    public func writeSnapshot(to sink: ([UInt8]) throws -> Void) throws {
        try writeSnapshot(chunkBytes: 64 * 1024, level: 1, to: sink)
    }
}
