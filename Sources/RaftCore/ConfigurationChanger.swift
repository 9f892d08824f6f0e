import RaftMessages
import RaftWire

/// Why a configuration change cannot be applied to a configuration.
public struct InvalidConfigChange: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Turns a `ConfigChange` into the configuration that follows it (etcd's `confchange.Changer`),
/// refusing a change that is not valid for the configuration it would apply to. A pure function
/// of its inputs: every member applies the same change to the same configuration and gets the
/// same result, so a change refused at apply time is refused everywhere.
///
/// The rules (§6 of the extended paper):
/// - Steps that change at most one voter take effect at once ("single-server change"): any
///   majority of the old voters overlaps any majority of the new ones.
/// - Steps that change more voters enter a joint configuration: the new voters become
///   `voters`, the old ones `outgoingVoters`, and decisions need a majority of each. The joint
///   configuration is left by an empty change (proposed automatically, `autoLeave`).
/// - While joint, the only valid change is the empty one that leaves.
/// - Ids are never reused: an id in `removedIDs` cannot be added. A voter that leaves in a
///   joint change is recorded as removed when the joint configuration is left (until then it is
///   still an outgoing voter, whose messages must be heard).
/// - At least one voter remains.
/// - Only a cluster's bootstrap entry (`RawNode.bootstrap`, log index 1) applies to an empty
///   configuration, and it may add any number of voters (see `Raft.applyConfigEntry`).
public enum ConfigurationChanger {
    /// The configuration after `change`.
    public static func apply(_ change: ConfigChange, to current: Configuration) throws(InvalidConfigChange) -> Configuration {
        if change.isLeaveJoint { return try leaveJoint(current) }
        if current.isJoint {
            throw InvalidConfigChange("the configuration is joint; it must be left before another change")
        }
        var next = current
        for step in change.steps {
            try apply(step, to: &next)
        }
        if next.voters.isEmpty {
            throw InvalidConfigChange("the change would remove the last voter")
        }
        let before = Set(current.voterIDs)
        let after = Set(next.voterIDs)
        // From an empty configuration (a cluster's bootstrap entry) every voter is added at once.
        if !current.isEmpty && before.symmetricDifference(after).count > 1 {
            // §6: more than one voter changes at once, so go through C_old,new. Voters that
            // leave stay outgoing voters (their records kept) until the joint state is left.
            next.outgoingVoters = current.voters
            next.autoLeave = true
            next.removedIDs.removeAll { id in next.outgoingVoters.contains { $0.id == id } }
        }
        return Configuration(
            voters: next.voters, learners: next.learners, outgoingVoters: next.outgoingVoters, autoLeave: next.autoLeave,
            removedIDs: next.removedIDs)
    }

    /// The configuration after applying the `ENTRY_CONFIG` entry `entry` to `current`, or nil
    /// when its data does not decode or the change is not valid for `current` (then the entry
    /// changes nothing, on every member alike).
    public static func applying(_ entry: LogEntry, to current: Configuration) -> Configuration? {
        guard entry.type == .config, let change = try? ConfigChange(serializedBytes: entry.data) else { return nil }
        return try? apply(change, to: current)
    }

    /// §6: once C_old,new is committed (and applied), C_new alone decides. Outgoing voters that
    /// are not incoming voters or learners have left the cluster for good.
    static func leaveJoint(_ current: Configuration) throws(InvalidConfigChange) -> Configuration {
        guard current.isJoint else { throw InvalidConfigChange("the configuration is not joint; nothing to leave") }
        var removed = current.removedIDs
        for member in current.outgoingVoters where !current.voters.contains(where: { $0.id == member.id }) {
            if !current.learners.contains(where: { $0.id == member.id }) { removed.append(member.id) }
        }
        return Configuration(voters: current.voters, learners: current.learners, removedIDs: removed)
    }

    private static func apply(_ step: ConfigChangeStep, to config: inout Configuration) throws(InvalidConfigChange) {
        let id = step.member.id
        if id == 0 { throw InvalidConfigChange("member id 0 is not valid") }
        switch step.type {
        case .unspecified:
            throw InvalidConfigChange("a configuration change step has no type")
        case .addVoter, .addLearner:
            if config.isRemoved(id) {
                throw InvalidConfigChange("id \(id) belonged to a removed member; ids are never reused")
            }
            if config.contains(id) { throw InvalidConfigChange("member \(id) is already in the configuration") }
            var member = step.member
            member.learner = step.type == .addLearner
            if member.learner { config.learners.append(member) } else { config.voters.append(member) }
        case .promote:
            guard let index = config.learners.firstIndex(where: { $0.id == id }) else {
                throw InvalidConfigChange(
                    config.contains(id) ? "member \(id) is already a voter" : "member \(id) is not in the configuration")
            }
            var member = config.learners.remove(at: index)
            member.learner = false
            config.voters.append(member)
        case .remove:
            guard config.contains(id) else { throw InvalidConfigChange("member \(id) is not in the configuration") }
            config.voters.removeAll { $0.id == id }
            config.learners.removeAll { $0.id == id }
            config.removedIDs.append(id)
        case .update:
            guard let existing = config.member(id) else {
                throw InvalidConfigChange("member \(id) is not in the configuration")
            }
            let incarnation = step.member.incarnation
            if existing.incarnation != 0 && incarnation != 0 && incarnation != existing.incarnation {
                throw InvalidConfigChange(
                    "member \(id) already has incarnation \(existing.incarnation); an incarnation is recorded once")
            }
            func updated(_ member: Member) -> Member {
                var member = member
                if !step.member.clientAddress.isEmpty { member.clientAddress = step.member.clientAddress }
                if member.incarnation == 0 { member.incarnation = incarnation }
                return member
            }
            config.voters = config.voters.map { $0.id == id ? updated($0) : $0 }
            config.learners = config.learners.map { $0.id == id ? updated($0) : $0 }
            config.outgoingVoters = config.outgoingVoters.map { $0.id == id ? updated($0) : $0 }
        }
    }
}
