import RaftMessages

/// What the transport knows of the replicated configuration, to refuse members the cluster does
/// not accept before their envelopes reach the node: ids that were removed, and members whose
/// incarnation differs from the one recorded for their id (their data directory was lost, so
/// they no longer remember their votes). Such envelopes are answered with `MemberRefused` and
/// their connection is closed.
public struct MembershipView: Sendable, Hashable {
    /// Removed ids: never members again.
    public var removed: Set<UInt64>
    /// The incarnation recorded for each member (members not listed, or with 0, are not
    /// checked yet).
    public var incarnations: [UInt64: UInt64]
    /// This member is a voter. Only a voter tells a removed member it was removed: the removed
    /// member stops on that, and a voter that has applied the removal no longer needs its vote,
    /// while a learner that has applied it proves nothing about the voters.
    public var selfIsVoter: Bool

    public init(removed: Set<UInt64> = [], incarnations: [UInt64: UInt64] = [:], selfIsVoter: Bool = true) {
        self.removed = removed
        self.incarnations = incarnations
        self.selfIsVoter = selfIsVoter
    }

    /// The view of `configuration`, as member `selfID` applied it.
    public init(_ configuration: Configuration, selfID: UInt64) {
        self.init(
            removed: Set(configuration.removedIDs),
            incarnations: Dictionary(
                configuration.members.filter { $0.incarnation != 0 }.map { ($0.id, $0.incarnation) },
                uniquingKeysWith: { a, _ in a }),
            selfIsVoter: configuration.isVoter(selfID))
    }

    /// Whether the refused member is told (`MemberRefused`) before its connection closes: always
    /// for another incarnation (it must stop), for a removed member only by a voter.
    func notifies(_ refusal: MemberRefused) -> Bool {
        !refusal.removed || selfIsVoter
    }

    /// Why an envelope from `id` with `incarnation` is refused, nil if it is accepted.
    /// `TimeoutNow` from a removed member is let through: it is how a leader that removed itself
    /// hands over, and the node decides (it must be the leader of the node's current term).
    func refusal(of id: UInt64, incarnation: UInt64, body: RaftMessage) -> MemberRefused? {
        if removed.contains(id) {
            if case .timeoutNow = body { return nil }
            return MemberRefused(
                removed: true,
                reason: "member \(id) was removed from the cluster; it cannot rejoin under this id (add a new member instead)")
        }
        if let recorded = incarnations[id], incarnation != 0, incarnation != recorded {
            return MemberRefused(
                removed: false, expectedIncarnation: recorded,
                reason:
                    "member \(id) runs on a data directory (incarnation \(incarnation)) other than the one the cluster knows "
                    + "(incarnation \(recorded)): its data was lost or replaced, so it may not vote under this id again; "
                    + "replace it with a new member (raftctl member replace \(id) NEW_ID)")
        }
        return nil
    }
}
