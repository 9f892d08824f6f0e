import ArgumentParser
import Foundation
import RaftChaos
import RaftClient
import RaftMessages

/// `raft-chaos`: runs real `raft-node` processes under a stream of faults while clients read and
/// write, then judges what the clients saw with a linearizability checker, checks that every
/// member ends with the same state, and prints the verdict. `deploy/chaos.sh` builds and runs it.
@main
struct RaftChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-chaos",
        abstract: "Fault-injection run of a real cluster, judged by a linearizability checker.")

    @Option(help: "How long the clients and the faults run, in seconds.")
    var seconds: Double = 30

    @Option(help: "Seed of every random choice (faults, victims, timings, operations); random if not given.")
    var seed: UInt64?

    @Option(help: "Cluster size: 3 or 5.")
    var members: Int = 3

    @Option(help: "Comma-separated faults (\(Fault.allCases.map(\.rawValue).joined(separator: ", "))), or 'all'.")
    var nemesis: String = "all"

    @Option(help: "Concurrent clients.")
    var clients: Int = 5

    @Option(help: "Keys the clients share.")
    var keys: Int = 5

    @Option(help: "Seconds a client retries one operation before it gives up (its outcome is then unknown).")
    var clientTimeout: Double = 2

    @Option(help: "A member snapshots every this many entries (small: snapshots happen under faults).")
    var snapshotEntries: Int = 500

    @Option(help: "RAFT_FAILPOINTS for every member, e.g. client-answer=300ms: writes answered 300 ms after they apply, so that kills lose answers of applied writes and their retries test the de-duplication.")
    var failpoints: String = ""

    @Option(help: "The raft-node binary (default: next to this one).")
    var binary: String?

    @Option(help: "Directory for logs, data, the history and its timeline (default .build/chaos/<seed>).")
    var out: String?

    @Flag(help: "Keep the members' data directories even when the run passes.")
    var keep = false

    @Flag(help: "Run the cluster with TLS on every port (mutual TLS between members, client certificates required), with certificates made by deploy/certs.sh at start; the proxies then cut TLS connections.")
    var tls = false

    func validate() throws {
        guard members == 3 || members == 5 else { throw ValidationError("--members must be 3 or 5") }
        guard seconds > 0, seconds <= 86_400 else { throw ValidationError("--seconds must be in (0, 86400]") }
        guard clients >= 1, clients <= 64 else { throw ValidationError("--clients must be 1...64") }
        guard keys >= 1, keys <= 1000 else { throw ValidationError("--keys must be 1...1000") }
        guard clientTimeout >= 0.1, clientTimeout <= 60 else { throw ValidationError("--client-timeout must be 0.1...60") }
        guard snapshotEntries >= 10 else { throw ValidationError("--snapshot-entries must be at least 10") }
        _ = try faults()
    }

    func faults() throws -> [Fault] {
        if nemesis == "all" { return Fault.allCases.filter { $0 != .bridge || members == 5 } }
        if nemesis == "none" { return [] }
        return try nemesis.split(separator: ",").map { name in
            guard let fault = Fault(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown fault '\(name)'; known: \(Fault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return fault
        }
    }

    func run() async throws {
        let seed = self.seed ?? UInt64.random(in: 1...UInt64(Int64.max))
        let faults = try faults()
        let root = URL(fileURLWithPath: out ?? ".build/chaos/\(seed)").standardizedFileURL
        let binary = URL(fileURLWithPath: self.binary ?? Self.sibling("raft-node"))
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw ValidationError("no raft-node at \(binary.path) (build it, or pass --binary)")
        }
        try? FileManager.default.removeItem(at: root)
        say("chaos: seed \(seed), \(members) members, \(clients) clients on \(keys) keys, \(seconds) s, faults: "
            + (faults.isEmpty ? "none" : faults.map(\.rawValue).joined(separator: ","))
            + (failpoints.isEmpty ? "" : ", failpoints \(failpoints)") + (tls ? ", TLS" : ""))
        say("chaos: logs and data under \(root.path)")

        let cluster = try await ChaosCluster(
            root: root, binary: binary, size: members, snapshotEntries: snapshotEntries, failpoints: failpoints,
            tls: tls)
        var passed = false
        do {
            passed = try await exercise(cluster, seed: seed, faults: faults, root: root)
        } catch {
            say("chaos: run failed: \(error)")
        }
        await cluster.shutdown(keep: keep || !passed)
        if !passed { throw ExitCode(1) }
    }

    /// The run proper; true when the history is linearizable and the members agree.
    private func exercise(_ cluster: ChaosCluster, seed: UInt64, faults: [Fault], root: URL) async throws -> Bool {
        _ = try await cluster.leader()
        // The faults' log and the history share one clock: an anomaly's times match the faults'.
        let recorder = HistoryRecorder()
        let started = recorder.origin
        let workload = Workload(cluster: cluster, clients: clients, keys: keys, seed: seed, timeout: clientTimeout, recorder: recorder)
        let nemesis = Nemesis(cluster: cluster, faults: faults, seed: seed, started: started)
        try await nemesis.run(until: started + .milliseconds(Int(seconds * 1000)))
        _ = try await cluster.leader(seconds: 30)
        var history = await workload.stop()

        // Final reads after everything healed: an acknowledged write lost by the faults shows
        // up here as a read the checker cannot place.
        let reader = cluster.client(timeout: 10)
        for k in 0..<keys {
            let call = KVCall.get(key: "k\(k)")
            let id = workload.recorder.invoke(client: clients, call: call)
            workload.recorder.complete(id: id, outcome: await Workload.perform(call, with: reader))
        }
        await reader.close()
        history = workload.recorder.history()
        try history.write(toFile: root.appendingPathComponent("history.json").path)

        let divergence = try await compareMembers(cluster)
        let checked = ContinuousClock.now
        let verdict = LinearizabilityChecker().check(history)
        let checkTime = ContinuousClock.now - checked

        let operations = history.operations
        let unknown = operations.filter { $0.outcome == .unknown }.count
        let failed = operations.filter { $0.outcome == .failed }.count
        say("chaos: faults injected: " + (nemesis.counts.isEmpty ? "none" : nemesis.counts.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")))
        say("chaos: operations: \(operations.count) (ok \(operations.count - unknown - failed), failed \(failed), unknown \(unknown))")
        say("chaos: members agree: " + (divergence.isEmpty ? "yes" : "NO\n" + divergence.joined(separator: "\n")))
        say("chaos: linearizability (\(checkTime)): \(verdict)")
        let passed = verdict.isLinearizable && divergence.isEmpty
        if !verdict.isLinearizable {
            for anomaly in verdict.anomalies {
                guard let id = anomaly.blockingOperation, let operation = operations.first(where: { $0.id == id }) else { continue }
                say("chaos: key \(anomaly.key): operation \(id) (\(operation)) ran \(Self.seconds(operation.invoke)) s"
                    + " to \(operation.complete.map { "\(Self.seconds($0)) s" } ?? "the end") on the faults' clock")
            }
            let page = root.appendingPathComponent("timeline.html").path
            try HistoryTimeline.write(
                history: Self.focus(history, on: verdict), verdict: verdict, title: "raft-chaos seed \(seed)", to: page)
            say("chaos: timeline of the history: \(page) (the whole history: history.json)")
        }
        say("chaos: seed \(seed): \(passed ? "PASS" : "FAIL")")
        return passed
    }

    /// Once every member has applied what the leader committed, each member's own state (a
    /// serializable read of every key) must be the same; the lines that say where it is not.
    private func compareMembers(_ cluster: ChaosCluster) async throws -> [String] {
        let client = cluster.client(timeout: 5)
        defer { Task { await client.close() } }
        let deadline = ContinuousClock.now + .seconds(30)
        var lagging: [Int] = []
        repeat {
            let statuses = await cluster.statuses()
            let commit = statuses.values.map(\.commitIndex).max() ?? 0
            lagging = cluster.members.filter { (statuses[$0]?.appliedIndex ?? 0) < commit }
            if lagging.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        guard lagging.isEmpty else { return ["members \(lagging) did not catch up within 30 s"] }
        var problems: [String] = []
        for k in 0..<keys {
            var values: [Int: String] = [:]
            for id in cluster.members {
                let answer = try await client.localGet(Array("k\(k)".utf8), from: cluster.endpoint(id))
                values[id] = answer.status == .ok ? String(decoding: answer.value, as: UTF8.self) : "\(answer.status)"
            }
            if Set(values.values).count > 1 { problems.append("  k\(k): \(values.sorted { $0.key < $1.key })") }
        }
        return problems
    }

    /// What the timeline shows of a failed run: the operations of the keys that are not
    /// linearizable, within 5 s of the operation that could not be placed (a whole run's page
    /// would be megabytes).
    static func focus(_ history: KVHistory, on verdict: Verdict) -> KVHistory {
        let keys = Set(verdict.anomalies.map(\.key))
        let blocking = Set(verdict.anomalies.compactMap(\.blockingOperation))
        let around = history.operations.filter { blocking.contains($0.id) }
        let margin: UInt64 = 5_000_000_000
        return KVHistory(operations: history.operations.filter { operation in
            guard keys.contains(operation.call.key) else { return false }
            guard !around.isEmpty else { return true }
            return around.contains { center in
                let end = operation.complete ?? history.end
                let centerEnd = center.complete ?? history.end
                return end + margin >= center.invoke && operation.invoke <= centerEnd + margin
            }
        })
    }

    static func seconds(_ nanoseconds: UInt64) -> String { String(format: "%.3f", Double(nanoseconds) / 1e9) }

    /// A binary built next to this one.
    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
}

/// Prints one line at once, also into a file or a pipe (where `print` buffers until exit): a
/// long run shows its faults as they come.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
