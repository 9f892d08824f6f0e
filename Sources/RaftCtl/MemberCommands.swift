import ArgumentParser
import RaftClient
import RaftMessages

/// `raftctl member list|add|promote|remove|replace`: the membership of the cluster (§6 of the
/// extended Raft paper). Each change is answered once it is committed; a refused one exits
/// non-zero with the leader's one-line reason.
struct MemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "List and change the members of the cluster.",
        discussion: """
            A new member joins in two steps: start it (raft-node --join ...), add it as a learner, \
            wait until it has caught up, then promote it. 'replace' swaps a member for a caught-up \
            learner in one joint change.
            """,
        subcommands: [List.self, Add.self, Promote.self, Remove.self, Replace.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per member: id, peer address, client address, voter or learner, and 'leader'.")
        @OptionGroup var common: RaftCtl.Common

        func run() async throws {
            let response = try await common.withClient { try await $0.membership(.memberList) }
            try expect(response, .ok)
            print(MemberCommand.describe(response))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add member ID (a new, never used id) reachable at --peer; --learner to add it as a learner.")
        @OptionGroup var common: RaftCtl.Common
        @Argument(help: "The new member's id.") var id: UInt64
        @Option(help: "HOST:PORT the other members dial for the new member's peer port.") var peer: String
        @Option(help: "HOST:PORT of the new member's client port (it also publishes it itself once running).")
        var client = ""
        @Flag(help: "Add it as a learner (receives the log, does not vote); promote it once caught up.")
        var learner = false

        func run() async throws {
            let member = Member(id: id, peerAddress: peer, clientAddress: client, learner: learner)
            let response = try await common.withClient { try await $0.membership(.memberAdd(member)) }
            try expect(response, .ok)
            print("added member \(id) as \(learner ? "a learner" : "a voter")")
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make learner ID a voter (refused until it has caught up).")
        @OptionGroup var common: RaftCtl.Common
        @Argument var id: UInt64

        func run() async throws {
            let response = try await common.withClient { try await $0.membership(.memberPromote(id: id)) }
            try expect(response, .ok)
            print("promoted member \(id) to voter")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove member ID for good (its id is never reused). The leader hands over first if it is ID.")
        @OptionGroup var common: RaftCtl.Common
        @Argument var id: UInt64

        func run() async throws {
            let response = try await common.withClient { try await $0.membership(.memberRemove(id: id)) }
            try expect(response, .ok)
            print("removed member \(id)")
        }
    }

    struct Replace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "In one joint change, make learner NEW a voter and remove OLD (add NEW with --learner first).")
        @OptionGroup var common: RaftCtl.Common
        @Argument(help: "The member that leaves.") var old: UInt64
        @Argument(help: "The caught-up learner that takes its place.") var new: UInt64

        func run() async throws {
            let response = try await common.withClient { try await $0.membership(.memberReplace(oldID: old, newID: new)) }
            try expect(response, .ok)
            print("replaced member \(old) by member \(new)")
        }
    }

    /// The member list: aligned columns, one line per member.
    static func describe(_ response: ClientResponse) -> String {
        let configuration = response.configuration ?? Configuration(voters: response.members.filter { !$0.learner })
        var rows: [[String]] = []
        for member in response.members {
            var role = member.learner ? "learner" : "voter"
            if configuration.isJoint {
                let incoming = configuration.voterIDs.contains(member.id)
                let outgoing = configuration.outgoingVoterIDs.contains(member.id)
                if outgoing && !incoming { role = "voter (leaving)" }
                if incoming && !outgoing { role = "voter (joining)" }
            }
            rows.append([
                "\(member.id)", member.peerAddress, member.clientAddress.isEmpty ? "-" : member.clientAddress, role,
                member.id == response.leaderID ? "leader" : "",
            ])
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1) }.joined(separator: "  ").trimmingTrailingSpaces
        }.joined(separator: "\n")
    }
}

/// `raftctl move-leader ID`: hand leadership to voter ID (Raft thesis §3.10).
struct MoveLeader: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move-leader", abstract: "Hand leadership over to voter ID; returns once it leads.")
    @OptionGroup var common: RaftCtl.Common
    @Argument var id: UInt64

    func run() async throws {
        let response = try await common.withClient { try await $0.membership(.transferLeader(id: id)) }
        try expect(response, .ok)
        print("member \(id) leads")
    }
}
