import Foundation
import RaftCore
import RaftMessages
import Testing

@testable import RaftStorage

/// Three `RawNode`s on `DiskStorage`, driven in-process in `Ready`'s documented order: a crashed
/// node comes back from its directory with term, vote, log and snapshot, and a node that fell
/// behind a compaction catches up through InstallSnapshot into its storage.
@Suite struct RawNodeIntegrationTests {
    final class Cluster {
        let dir: TempDirectory
        var storages: [DiskStorage?] = [nil, nil, nil]
        var nodes: [RawNode?] = [nil, nil, nil]
        var applied: [[UInt64: [UInt8]]] = [[:], [:], [:]]
        var isolated: Set<Int> = []
        var queue: [Message] = []
        static let options = DiskStorageOptions(segmentSize: 2048, voters: [1, 2, 3], unsafeNoFsync: true)

        init(_ dir: TempDirectory) throws {
            self.dir = dir
            for i in 0..<3 { try start(i) }
        }

        func path(_ i: Int) -> String { dir.path + "/node\(i + 1)" }

        func start(_ i: Int) throws {
            let storage = try DiskStorage(directory: path(i), options: Self.options)
            storages[i] = storage
            let config = Config(id: UInt64(i + 1), voters: [1, 2, 3], electionTick: 10, heartbeatTick: 1, randomSeed: UInt64(i + 7))
            nodes[i] = try RawNode(config: config, storage: storage)
            if let snapshot = storage.snapshotFile {
                applied[i] = Self.decode(try storage.loadSnapshot().data)
                #expect(snapshot.metadata.index > 0)
            }
        }

        /// A crash: the instance is dropped without a clean close (unsynced writes stay in the page
        /// cache, as after a process crash), then a new one recovers from the directory.
        func crashAndRestart(_ i: Int) throws {
            nodes[i] = nil
            storages[i] = nil
            try start(i)
        }

        static func encode(_ state: [UInt64: [UInt8]]) -> [UInt8] {
            var bytes: [UInt8] = []
            for (index, data) in state.sorted(by: { $0.key < $1.key }) {
                bytes.appendLE(index)
                bytes.appendLE(UInt32(data.count))
                bytes += data
            }
            return bytes
        }

        static func decode(_ bytes: [UInt8]) -> [UInt64: [UInt8]] {
            var state: [UInt64: [UInt8]] = [:]
            bytes.withUnsafeBytes { raw in
                var r = ByteReader(raw)
                while let index = r.read(UInt64.self), let count = r.read(UInt32.self), let data = r.readBytes(Int(count)) {
                    state[index] = [UInt8](data)
                }
            }
            return state
        }

        func processReady() throws {
            for i in 0..<3 {
                guard let node = nodes[i], let storage = storages[i] else { continue }
                while node.hasReady {
                    let ready = node.ready()
                    try storage.persist(ready)
                    queue += ready.messages + ready.messagesAfterPersist
                    if ready.snapshot != nil { applied[i] = Self.decode(try storage.loadSnapshot().data) }
                    for entry in ready.committedEntries where entry.type == .normal { applied[i][entry.index] = entry.data }
                    node.advance(ready)
                }
            }
        }

        /// Delivers messages and ticks until `done` holds; bounded.
        func run(maxRounds: Int = 2000, until done: () -> Bool) throws {
            for round in 0..<maxRounds {
                try processReady()
                if done() { return }
                let messages = queue
                queue = []
                for message in messages {
                    let from = Int(message.from) - 1
                    let to = Int(message.to) - 1
                    if isolated.contains(from) || isolated.contains(to) { continue }
                    try nodes[to]?.step(message)
                }
                if messages.isEmpty || round % 5 == 0 {
                    for node in nodes { node?.tick() }
                }
            }
            Issue.record("cluster did not converge in \(maxRounds) rounds")
        }

        var leader: Int? {
            (0..<3).first { nodes[$0]?.isLeader == true && !isolated.contains($0) }
        }

        func propose(_ count: Int, tag: UInt8) throws {
            let l = try #require(leader)
            for k in 0..<count { try nodes[l]!.propose([tag, UInt8(k)]) }
        }

        func allCaughtUp(_ members: [Int]) -> Bool {
            guard let l = leader, let last = nodes[l]?.lastIndex else { return false }
            return members.allSatisfy { nodes[$0]?.appliedIndex == last }
        }
    }

    @Test func crashRestartAndSnapshotCatchUp() throws {
        let dir = TempDirectory("raftnodes")
        defer { dir.cleanup() }
        let cluster = try Cluster(dir)
        cluster.nodes[0]!.campaign()
        try cluster.run { cluster.leader != nil }
        let leader = try #require(cluster.leader)
        try cluster.propose(40, tag: 1)
        try cluster.run { cluster.allCaughtUp([0, 1, 2]) }

        // A follower crashes and comes back with everything it acknowledged.
        let follower = (leader + 1) % 3
        let before = try StorageView(cluster.storages[follower]!)
        try cluster.crashAndRestart(follower)
        let after = try StorageView(cluster.storages[follower]!)
        #expect(after.entries == before.entries)
        #expect(after.hardState.term == before.hardState.term && after.hardState.vote == before.hardState.vote)
        try cluster.propose(10, tag: 2)
        try cluster.run { cluster.allCaughtUp([0, 1, 2]) }

        // The other follower falls behind while the leader snapshots and compacts (§7) ...
        let laggard = (leader + 2) % 3
        cluster.isolated = [laggard]
        try cluster.propose(60, tag: 3)
        try cluster.run { cluster.allCaughtUp([leader, follower]) }
        let appliedIndex = cluster.nodes[leader]!.appliedIndex
        for i in [leader, follower] {
            #expect(cluster.nodes[i]!.appliedIndex == appliedIndex)
            try cluster.storages[i]!.createSnapshot(appliedIndex, data: Cluster.encode(cluster.applied[i]), configuration: Configuration(voterIDs: [1, 2, 3]))
            try cluster.storages[i]!.compact(appliedIndex)
        }
        // ... and the leader crashes too (its snapshot survives; either member may lead next) ...
        try cluster.crashAndRestart(leader)
        #expect(cluster.storages[leader]!.snapshotFile?.metadata.index == appliedIndex)
        try cluster.run { cluster.leader != nil && cluster.allCaughtUp([0, 1, 2].filter { $0 != laggard }) }

        // ... and the laggard catches up through InstallSnapshot into its DiskStorage.
        cluster.isolated = []
        try cluster.run { cluster.allCaughtUp([0, 1, 2]) }
        let installed = try #require(cluster.storages[laggard]!.snapshotFile)
        #expect(installed.installed)
        #expect(installed.metadata.index >= appliedIndex)
        try cluster.crashAndRestart(laggard)
        #expect(cluster.storages[laggard]!.snapshotFile?.metadata == installed.metadata)
        try cluster.propose(5, tag: 4)
        try cluster.run { cluster.allCaughtUp([0, 1, 2]) }
        let reference = cluster.applied[cluster.leader!]
        for i in 0..<3 { #expect(cluster.applied[i] == reference, "node \(i + 1)") }
        for storage in cluster.storages { try storage?.close() }
    }
}
