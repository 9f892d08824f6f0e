/// Errors the core reports to its driver.
public enum RaftError: Error, Sendable, Hashable {
    /// `propose` on a node that is not the leader; `leaderID` is the leader it knows (0: none).
    case notLeader(leaderID: UInt64)
    /// The proposal was not appended (for example: a leadership transfer is in progress).
    case proposalDropped
    /// `Config` failed validation; the text says which field.
    case invalidConfig(String)
    /// A message addressed to another node, or from a node that is not a member.
    case unknownPeer(UInt64)
    /// `Storage` failed in a way the core cannot recover from.
    case storage(StorageError)
}
