/// A member of the cluster as the replicated configuration records it (`raft.Member`, §6).
public struct Member: Sendable, Hashable {
    /// Never 0; never reused once removed.
    public var id: UInt64
    /// `host:port` the other members dial for this member's peer port.
    public var peerAddress: String
    /// `host:port` of this member's client port; empty until the member published it.
    public var clientAddress: String
    /// Receives the log and snapshots, but does not count toward elections or commitment.
    public var learner: Bool
    /// Random number created with the member's data directory; 0 until the member reported it.
    public var incarnation: UInt64

    public init(id: UInt64, peerAddress: String = "", clientAddress: String = "", learner: Bool = false, incarnation: UInt64 = 0) {
        self.id = id
        self.peerAddress = peerAddress
        self.clientAddress = clientAddress
        self.learner = learner
        self.incarnation = incarnation
    }
}

/// The membership in force once a prefix of the log has been applied (`raft.Configuration`, §6).
///
/// Canonical form: each list sorted by id, a member record in at most one of `voters` and
/// `learners` (an outgoing voter that stays in the cluster appears in `outgoingVoters` too, with
/// the same record). Values compare equal exactly when they describe the same configuration.
public struct Configuration: Sendable, Hashable {
    /// The voters; in a joint configuration, the incoming ones (§6 "C_new").
    public var voters: [Member]
    public var learners: [Member]
    /// Non-empty only while joint (§6 "C_old,new"): the previous voters.
    public var outgoingVoters: [Member]
    /// Leave the joint configuration automatically once it is applied.
    public var autoLeave: Bool
    /// Ids removed from the cluster, sorted: never reused, their messages refused.
    public var removedIDs: [UInt64]

    public init(
        voters: [Member] = [], learners: [Member] = [], outgoingVoters: [Member] = [], autoLeave: Bool = false,
        removedIDs: [UInt64] = []
    ) {
        self.voters = voters.sorted { $0.id < $1.id }
        self.learners = learners.sorted { $0.id < $1.id }
        self.outgoingVoters = outgoingVoters.sorted { $0.id < $1.id }
        self.autoLeave = autoLeave
        self.removedIDs = removedIDs.sorted()
        for i in self.learners.indices { self.learners[i].learner = true }
        for i in self.voters.indices { self.voters[i].learner = false }
        for i in self.outgoingVoters.indices { self.outgoingVoters[i].learner = false }
    }

    /// Voters `ids` with no addresses (tests, and data written before addresses were replicated).
    public init(voterIDs ids: [UInt64]) {
        self.init(voters: ids.map { Member(id: $0) })
    }

    /// No members at all: a member that joins an existing cluster starts here.
    public var isEmpty: Bool { voters.isEmpty && learners.isEmpty && outgoingVoters.isEmpty }

    /// A joint configuration: decisions need a majority of `voters` and one of `outgoingVoters`.
    public var isJoint: Bool { !outgoingVoters.isEmpty }

    public var voterIDs: [UInt64] { voters.map(\.id) }
    public var learnerIDs: [UInt64] { learners.map(\.id) }
    public var outgoingVoterIDs: [UInt64] { outgoingVoters.map(\.id) }

    /// Every member, each once, sorted by id: the voters, the learners and the outgoing voters.
    public var members: [Member] {
        var byID: [UInt64: Member] = [:]
        for member in outgoingVoters { byID[member.id] = member }
        for member in learners + voters { byID[member.id] = member }
        return byID.values.sorted { $0.id < $1.id }
    }

    public var memberIDs: [UInt64] { members.map(\.id) }

    /// The record of member `id`, if it is one.
    public func member(_ id: UInt64) -> Member? {
        voters.first { $0.id == id } ?? learners.first { $0.id == id } ?? outgoingVoters.first { $0.id == id }
    }

    public func contains(_ id: UInt64) -> Bool { member(id) != nil }

    /// A voter in either half of a joint configuration: it may campaign and its vote counts.
    public func isVoter(_ id: UInt64) -> Bool {
        voters.contains { $0.id == id } || outgoingVoters.contains { $0.id == id }
    }

    public func isLearner(_ id: UInt64) -> Bool { learners.contains { $0.id == id } }

    public func isRemoved(_ id: UInt64) -> Bool { removedIDs.contains(id) }
}

/// The kind of one step of a configuration change (`raft.ConfigChangeType`).
public enum ConfigChangeType: Int32, Sendable, Hashable, CaseIterable {
    /// Not a valid step (the protobuf default).
    case unspecified = 0
    case addVoter = 1
    case addLearner = 2
    /// Make a learner a voter.
    case promote = 3
    /// Remove a voter or learner; the id is never used again.
    case remove = 4
    /// Record a member's client address and incarnation; changes no role.
    case update = 5
}

/// One step of a configuration change (`raft.ConfigChangeStep`).
public struct ConfigChangeStep: Sendable, Hashable {
    public var type: ConfigChangeType
    /// For `promote` and `remove` only the id counts.
    public var member: Member

    public init(_ type: ConfigChangeType, _ member: Member) {
        self.type = type
        self.member = member
    }

    public static func addVoter(_ member: Member) -> ConfigChangeStep { ConfigChangeStep(.addVoter, member) }
    public static func addLearner(_ member: Member) -> ConfigChangeStep { ConfigChangeStep(.addLearner, member) }
    public static func promote(_ id: UInt64) -> ConfigChangeStep { ConfigChangeStep(.promote, Member(id: id)) }
    public static func remove(_ id: UInt64) -> ConfigChangeStep { ConfigChangeStep(.remove, Member(id: id)) }
    public static func update(_ member: Member) -> ConfigChangeStep { ConfigChangeStep(.update, member) }
}

/// The data of an `ENTRY_CONFIG` log entry (`raft.ConfigChange`): steps that change at most one
/// voter take effect together; steps that change more voters enter a joint configuration (§6),
/// left automatically; no steps leave the joint configuration.
public struct ConfigChange: Sendable, Hashable {
    public var steps: [ConfigChangeStep]

    public init(_ steps: [ConfigChangeStep] = []) {
        self.steps = steps
    }

    /// The empty change that leaves a joint configuration.
    public static var leaveJoint: ConfigChange { ConfigChange() }

    public var isLeaveJoint: Bool { steps.isEmpty }
}
