/// Sent back instead of handling an envelope from a member the receiver does not accept
/// (`raft.MemberRefused`): a removed id, or an incarnation other than the one recorded for it.
public struct MemberRefused: Sendable, Hashable {
    /// True if the id was removed; false for an incarnation mismatch.
    public var removed: Bool
    /// The incarnation the configuration records for the refused id.
    public var expectedIncarnation: UInt64
    /// One line for the operator.
    public var reason: String

    public init(removed: Bool, expectedIncarnation: UInt64 = 0, reason: String) {
        self.removed = removed
        self.expectedIncarnation = expectedIncarnation
        self.reason = reason
    }
}
