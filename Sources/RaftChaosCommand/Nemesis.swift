import RaftChaos
import RaftCore
import RaftMessages

/// The faults the suite injects. Each is applied, held for a while, then healed, one at a
/// time; which, when, on whom and for how long all come from the seed.
enum Fault: String, CaseIterable, Sendable {
    /// The members split in two groups that cannot reach each other (a random cut, sometimes
    /// the leader alone in the minority).
    case partition
    /// One member cannot send to another, while the reverse direction still works.
    case oneWay = "one-way"
    /// One member, often the leader, on a bridge: each half reaches it but not the other half
    /// (five members only).
    case bridge
    /// kill -9 of a member (the leader half of the time), restarted after the hold.
    case kill
    /// SIGSTOP of a member (the leader half of the time), SIGCONT after the hold: a process
    /// that wakes up believing it still leads.
    case pause
    /// kill -9 of every member at once, then all restarted.
    case restartAll = "restart-all"
    /// `transfer_leader` to a random other voter.
    case transfer
    /// A member (sometimes the leader) replaced by a new one: added as a learner, promoted and
    /// the old one removed in one joint change. Once a newcomer is in, the next replacement
    /// replaces a newcomer, so that one first member at most is gone.
    case replace
}

/// Injects faults into a `ChaosCluster` until told to stop, logging each with its time.
final class Nemesis {
    let cluster: ChaosCluster
    let faults: [Fault]
    private var random: SplitMix64
    private let started: ContinuousClock.Instant
    private(set) var log: [String] = []
    private(set) var counts: [Fault: Int] = [:]
    /// Members killed and not restarted yet.
    private var down: Set<Int> = []

    init(cluster: ChaosCluster, faults: [Fault], seed: UInt64, started: ContinuousClock.Instant) {
        self.cluster = cluster
        self.faults = faults
        self.random = SplitMix64(seed: seed ^ 0x6E65_6D65_7369_7321)
        self.started = started
    }

    private func note(_ text: String) {
        let at = ContinuousClock.now - started
        let seconds = Double(at.components.seconds) + Double(at.components.attoseconds) / 1e18
        let line = "\(String(format: "%7.2f", seconds)) s  \(text)"
        log.append(line)
        say("chaos: \(line)")
    }

    private func hold(_ range: ClosedRange<Int>) async throws {
        try await Task.sleep(for: .milliseconds(Int.random(in: range, using: &random)))
    }

    /// Faults until `deadline`: a quiet spell, a fault, its hold, its healing; repeat.
    func run(until deadline: ContinuousClock.Instant) async throws {
        while ContinuousClock.now < deadline {
            try await hold(300...1500)
            guard ContinuousClock.now < deadline, let fault = faults.randomElement(using: &random) else { break }
            counts[fault, default: 0] += 1
            do {
                try await inject(fault)
            } catch {
                note("\(fault.rawValue) could not complete: \(error)")
            }
        }
        await healAll()
    }

    /// Heals every fault: the network, paused and killed members.
    func healAll() async {
        cluster.healNetwork()
        for id in cluster.paused { cluster.resume(id) }
        for id in down.sorted() {
            do {
                try cluster.start(id)
            } catch {
                note("restarting \(id) failed: \(error)")
            }
        }
        down.removeAll()
        note("healed: network whole, every member running")
    }

    private func currentLeader() async -> Int? {
        let statuses = await cluster.statuses()
        return statuses.first { $0.value.role == "leader" }?.key
    }

    /// A victim: the leader half of the time (when one is known), else any running member.
    private func victim() async -> Int {
        if Bool.random(using: &random), let leader = await currentLeader() { return leader }
        return cluster.members.filter { cluster.isRunning($0) }.randomElement(using: &random) ?? cluster.members[0]
    }

    private func inject(_ fault: Fault) async throws {
        // Links are proxied between the first members only (a member that replaced one is
        // reached directly): network faults pick among those still in the configuration.
        let first = cluster.members.filter { $0 <= cluster.size }
        if [.partition, .oneWay, .bridge].contains(fault), first.count < 2 {
            return note("\(fault.rawValue) skipped: fewer than two members with proxied links")
        }
        switch fault {
        case .partition:
            var side: Set<Int>
            if Bool.random(using: &random), let leader = await currentLeader(), first.contains(leader) {
                side = [leader]
            } else {
                side = Set(first.shuffled(using: &random).prefix(Int.random(in: 1...(first.count / 2), using: &random)))
            }
            note("partition \(side.sorted()) | \(Set(first).subtracting(side).sorted())")
            cluster.partition(side)
            try await hold(800...4000)
            cluster.healNetwork()
            note("partition healed")
        case .oneWay:
            let from = first.randomElement(using: &random)!
            let to = first.filter { $0 != from }.randomElement(using: &random)!
            note("one-way: \(from) cannot send to \(to)")
            cluster.cutOneWay(from: from, to: to)
            try await hold(800...4000)
            cluster.healNetwork()
            note("one-way healed")
        case .bridge:
            guard first.count >= 5 else { return try await inject(.oneWay) }
            let shuffled = first.shuffled(using: &random)
            let bridge = shuffled[0]
            let left = Set(shuffled[1..<3])
            let right = Set(shuffled[3...])
            note("bridge \(bridge) between \(left.sorted()) and \(right.sorted())")
            for a in left { for b in right { cluster.cutOneWay(from: a, to: b); cluster.cutOneWay(from: b, to: a) } }
            try await hold(800...4000)
            cluster.healNetwork()
            note("bridge healed")
        case .kill:
            let id = await victim()
            note("kill -9 \(id)")
            cluster.kill9(id)
            down.insert(id)
            try await hold(500...3000)
            try cluster.start(id)
            down.remove(id)
            note("restarted \(id)")
        case .pause:
            let id = await victim()
            note("SIGSTOP \(id)")
            cluster.pause(id)
            try await hold(500...3000)
            cluster.resume(id)
            note("SIGCONT \(id)")
        case .restartAll:
            note("kill -9 every member")
            let running = cluster.members.filter { cluster.isRunning($0) }
            for id in running { cluster.kill9(id) }
            down.formUnion(running)
            try await hold(200...1000)
            for id in running { try cluster.start(id) }
            down.subtract(running)
            note("restarted every member")
        case .transfer:
            guard let leader = await currentLeader(),
                let target = cluster.members.filter({ $0 != leader && cluster.isRunning($0) }).randomElement(using: &random)
            else { return note("transfer skipped: no leader") }
            note("transfer leadership \(leader) -> \(target)")
            let answer = try await membership(.transferLeader(id: UInt64(target)))
            note("transfer: \(answer.status)\(answer.error.isEmpty ? "" : " (\(answer.error))")")
        case .replace:
            // A newcomer is reached without proxies: replacing it rather than another first
            // member keeps all but one of the first members, and the faults of their links.
            let newcomers = cluster.members.filter { $0 > cluster.size && cluster.isRunning($0) }
            let old = newcomers.isEmpty ? await victim() : newcomers.randomElement(using: &random)!
            let new = try cluster.startNewMember()
            note("replace \(old) by new member \(new)")
            let added = try await membership(.memberAdd(cluster.record(new)))
            guard added.status == .ok else { return note("replace: adding \(new) answered \(added.status) \(added.error)") }
            var answer = ClientResponse(requestID: 0, status: .error)
            for _ in 0..<40 {
                answer = try await membership(.memberReplace(oldID: UInt64(old), newID: UInt64(new)))
                if answer.status == .ok { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            guard answer.status == .ok else { return note("replace: \(answer.status) \(answer.error)") }
            cluster.replaced(old, by: new)
            note("replaced \(old) by \(new)")
        }
    }

    private func membership(_ operation: KVOperation) async throws -> ClientResponse {
        let client = cluster.client(timeout: 10)
        defer { Task { await client.close() } }
        return try await client.membership(operation)
    }
}
