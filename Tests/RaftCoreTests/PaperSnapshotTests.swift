@testable import RaftCore
import RaftMessages
import Testing

/// §7 log compaction: InstallSnapshot in chunks (Figure 13), with loss and reordering.
@Suite struct PaperSnapshotTests {
    static let voters: [UInt64] = [1, 2, 3]
    static let data: [UInt8] = (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 7) }

    /// Leader (1) and node 3 hold 20 entries of term 1 and a snapshot through 15 (node 1's log is
    /// compacted); node 2 is empty. Node 1 is elected while node 2 is unreachable.
    static func cluster(chunk: Int = 300, window: Int = 3, data: [UInt8] = Self.data) -> TestNetwork {
        let net = TestNetwork(3)
        let configure: (inout Config) -> Void = {
            $0.maxSnapshotChunkBytes = chunk
            $0.maxSnapshotChunksInFlight = window
        }
        let s1 = storage(terms: Array(repeating: 1, count: 20), term: 1, voters: voters, commit: 20)
        try! s1.createSnapshot(15, data: data, configuration: Configuration(voterIDs: [1, 2, 3]))
        try! s1.compact(15)
        net.nodes[1] = TestNode(id: 1, voters: voters, storage: s1, configure: configure)
        net.nodes[2] = TestNode(id: 2, voters: voters, configure: configure)
        net.nodes[3] = TestNode(
            id: 3, voters: voters, storage: storage(terms: Array(repeating: 1, count: 20), term: 1, voters: voters, commit: 20),
            configure: configure)
        net.drop = { $0.to == 2 || $0.from == 2 }
        net.elect(1)
        net.drop = { _ in false }
        return net
    }

    /// §7: "the leader must occasionally send snapshots to followers that lag behind"; Figure 13:
    /// chunks at `offset`, the last with `done`; the follower installs it and replication resumes.
    @Test func leaderSendsSnapshotInChunksToFollowerBehindFirstIndex() throws {
        let net = Self.cluster()
        try #require(net[1].raft.role == .leader)
        // A heartbeat answer from node 2 starts the probe, which finds index 15 compacted.
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        let chunks = net.delivered.compactMap(\.installSnapshot)
        #expect(chunks.map(\.offset) == [0, 300, 600, 900, 1200, 1500, 1800])
        #expect(chunks.allSatisfy { $0.data.count <= 300 && $0.lastIncludedIndex == 15 && $0.lastIncludedTerm == 1 })
        #expect(chunks.map(\.done) == [false, false, false, false, false, false, true])
        #expect(net[2].storage.currentSnapshot.data == Self.data)
        #expect(net[2].storage.currentSnapshot.metadata.index == 15)
        #expect(net[2].storage.logEntries.map(\.index) == Array(16...20))
        #expect(net[1].raft.progress[2]?.match == 20)
        #expect(net[1].raft.progress[2]?.state == .replicate)
    }

    /// The installed snapshot reaches the driver as its chunks (`Ready.snapshotChunks`, to write
    /// as they come: the core never holds the stream) and then `Ready.snapshot`, streamed, before
    /// any entry after it.
    @Test func installedSnapshotAppearsInReady() throws {
        let n = TestNode(id: 2, voters: Self.voters) { $0.maxSnapshotChunkBytes = 1000 }
        for (offset, done) in [(0, false), (1000, true)] {
            n.step(Message(from: 1, to: 2, body: .installSnapshot(InstallSnapshotRequest(
                term: 1, leaderID: 1, lastIncludedIndex: 15, lastIncludedTerm: 1, offset: UInt64(offset),
                data: Array(Self.data[offset..<offset + 1000]), done: done))))
        }
        let ready = n.node.ready()
        #expect(ready.snapshotChunks.map(\.offset) == [0, 1000])
        #expect(ready.snapshotChunks.flatMap(\.data) == Self.data)
        #expect(ready.snapshot?.metadata.index == 15)
        #expect(ready.snapshot?.isStreamed == true && ready.snapshot?.size == Self.data.count)
        #expect(n.node.raft.incomingSnapshot == nil, "nothing of the stream stays in the core")
        #expect(ready.committedEntries.isEmpty)
        #expect(ready.messagesAfterPersist.last?.installSnapshotResponse == InstallSnapshotResponse(
            term: 1, lastIncludedIndex: 15, nextOffset: 2000, done: true))
        #expect(ready.mustSync)
    }

    /// A storage that keeps the stream (a disk storage) hands the leader a snapshot without its
    /// bytes: the leader reads each chunk as it sends it, never the whole stream.
    @Test func aLeaderReadsAStreamedSnapshotOneChunkAtATime() throws {
        let net = Self.cluster(chunk: 300, window: 3)
        net[1].storage.streamsSnapshots = true
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        let chunks = net.delivered.compactMap(\.installSnapshot)
        #expect(chunks.map(\.offset) == [0, 300, 600, 900, 1200, 1500, 1800])
        #expect(chunks.flatMap(\.data) == Self.data)
        #expect(net[1].raft.progress[2]?.snapshotTransfer == nil && net[1].raft.progress[2]?.state == .replicate)
        #expect(net[2].storage.currentSnapshot.data == Self.data)
        #expect(net[1].raft.progress[2]?.match == 20)
    }

    /// Memory for a transfer does not grow with the snapshot: the leader has at most its window
    /// of chunks unacknowledged (read from storage as they are sent; the core holds no bytes),
    /// and the follower's core hands each chunk to its driver to write as it arrives, so no
    /// `Ready` carries more than a window. Measured by counting chunks, for a snapshot of 20
    /// chunks and one of 200.
    @Test func aTransferHoldsAtMostItsWindowOfChunksOnEitherSideWhateverTheSnapshotSize() throws {
        let (chunk, window) = (300, 3)
        var peaks: [[Int]] = []
        for size in [20 * chunk, 200 * chunk] {
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
            let net = Self.cluster(chunk: chunk, window: window, data: data)
            net[1].storage.streamsSnapshots = true
            var (leaderUnacked, chunksInFlight) = (0, 0)
            net[1].tick(net[1].raft.config.heartbeatTick)
            var queue = net[1].drain()
            // One message at a time, oldest first, measuring after each.
            for _ in 0..<5_000 where !queue.isEmpty {
                let message = queue.removeFirst()
                net[message.to].step(message)
                queue += net[message.to].drain()
                if let transfer = net[1].raft.progress[2]?.snapshotTransfer {
                    #expect(transfer.snapshot.isStreamed, "the leader's core holds no snapshot bytes")
                    leaderUnacked = max(leaderUnacked, transfer.sentOffset - transfer.acked)
                }
                chunksInFlight = max(chunksInFlight, queue.filter { $0.installSnapshot != nil }.count)
            }
            #expect(net[2].storage.currentSnapshot.data == data, "the transfer completed")
            peaks.append([leaderUnacked, chunksInFlight, net[2].largestSnapshotChunkBatch])
        }
        for peak in peaks {
            #expect(peak[0] <= window * chunk, "leader: unacknowledged bytes \(peak[0])")
            #expect(peak[1] <= window, "chunks in flight \(peak[1])")
            #expect(peak[2] <= window * chunk, "follower: bytes handed over in one Ready \(peak[2])")
        }
        #expect(peaks[0] == peaks[1], "ten times the snapshot, the same peaks: \(peaks)")
    }

    /// A snapshot replaced while it is being sent (the leader took a newer one): its chunks are
    /// gone, and the leader starts over with the newer snapshot; the follower ends with it.
    @Test func aSnapshotReplacedDuringItsTransferIsStartedOverWithTheNewOne() throws {
        let net = Self.cluster(chunk: 300, window: 2)
        net[1].storage.streamsSnapshots = true
        // Deliver the first window only, then replace the leader's snapshot by one through 18.
        net[1].tick(net[1].raft.config.heartbeatTick)
        var pending = net[1].drain()
        for _ in 0..<4 {
            var next: [Message] = []
            for message in pending {
                net[message.to].step(message)
                next += net[message.to].drain()
            }
            pending = next
        }
        #expect(net[1].raft.progress[2]?.state == .snapshot)
        let newer = (0..<1500).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try net[1].storage.createSnapshot(18, data: newer, configuration: Configuration(voterIDs: [1, 2, 3]))
        try net[1].storage.compact(18)
        for message in pending {
            net[message.to].step(message)
            _ = net[message.to].drain()
        }
        for _ in 0..<20 where net[1].raft.progress[2]?.state != .replicate {
            net[1].tick(net[1].raft.config.heartbeatTick)
            net.deliver()
        }
        #expect(net[2].storage.currentSnapshot.metadata.index == 18)
        #expect(net[2].storage.currentSnapshot.data == newer)
        #expect(net[1].raft.progress[2]?.match == 20)
    }

    /// Figure 13 step 2 starts a new snapshot at offset 0 — but the same transfer sent again from
    /// 0 (the leader heard nothing for a while) resumes from what the follower has: no chunk is
    /// written twice, and the answer names the offset it needs.
    @Test func theSameTransferStartedAgainResumesWhereTheFollowerIs() throws {
        let n = TestNode(id: 2, voters: Self.voters)
        func chunk(_ offset: Int, done: Bool = false) -> Message {
            Message(from: 1, to: 2, body: .installSnapshot(InstallSnapshotRequest(
                term: 1, leaderID: 1, lastIncludedIndex: 15, lastIncludedTerm: 1, offset: UInt64(offset),
                data: Array(Self.data[offset..<offset + 500]), done: done)))
        }
        n.step(chunk(0))
        n.step(chunk(500))
        var ready = n.node.ready()
        #expect(ready.snapshotChunks.map(\.offset) == [0, 500])
        n.node.advance(ready)
        n.step(chunk(0))
        ready = n.node.ready()
        #expect(ready.snapshotChunks.isEmpty, "nothing new to write")
        #expect(ready.messagesAfterPersist.last?.installSnapshotResponse?.nextOffset == 1000)
        n.node.advance(ready)
        // A new leader (term 2) sending the same snapshot starts it over.
        n.step(Message(from: 3, to: 2, body: .installSnapshot(InstallSnapshotRequest(
            term: 2, leaderID: 3, lastIncludedIndex: 15, lastIncludedTerm: 1, offset: 0,
            data: Array(Self.data[0..<500]), done: false))))
        ready = n.node.ready()
        #expect(ready.snapshotChunks.map(\.offset) == [0])
    }

    /// A chunk lost on the way: the follower answers later chunks with the offset it expects,
    /// and the leader resends from there.
    @Test func snapshotTransferRecoversFromLostChunk() throws {
        let net = Self.cluster()
        var droppedOnce = false
        net.drop = { message in
            if let chunk = message.installSnapshot, chunk.offset == 300, !droppedOnce {
                droppedOnce = true
                return true
            }
            return false
        }
        net[1].tick(net[1].raft.config.heartbeatTick)
        net.deliver()
        #expect(droppedOnce)
        let answers = net.delivered.compactMap(\.installSnapshotResponse)
        #expect(answers.contains { !$0.done && $0.nextOffset == 300 })
        #expect(net[2].storage.currentSnapshot.data == Self.data)
        #expect(net[1].raft.progress[2]?.match == 20)
    }

    /// Chunks reordered and answers lost: heartbeat rounds without progress resend from what the
    /// follower acknowledged, until the transfer completes.
    @Test func snapshotTransferSurvivesReorderingAndLostAnswers() throws {
        let net = Self.cluster(chunk: 250, window: 4)
        var chunksSeen = 0
        // Lose every third answer of the follower.
        var answers = 0
        net.drop = { message in
            if message.installSnapshotResponse != nil {
                answers += 1
                return answers % 3 == 0
            }
            return false
        }
        net[1].tick(net[1].raft.config.heartbeatTick)
        // Deliver each batch of chunks in reverse order.
        var inFlight = net[1].drain()
        for _ in 0..<200 where !inFlight.isEmpty || net[1].raft.progress[2]?.state == .snapshot {
            var next: [Message] = []
            let chunks = inFlight.filter { $0.installSnapshot != nil }.reversed()
            let others = inFlight.filter { $0.installSnapshot == nil }
            for message in Array(chunks) + others where !net.drop(message) {
                if message.installSnapshot != nil { chunksSeen += 1 }
                net[message.to].step(message)
                next += net[message.to].drain()
            }
            if next.isEmpty {
                net[1].tick(net[1].raft.config.heartbeatTick)
                next = net[1].drain()
            }
            inFlight = next
        }
        #expect(net[2].storage.currentSnapshot.data == Self.data)
        #expect(net[1].raft.progress[2]?.match ?? 0 >= 15)
        #expect(chunksSeen >= 8)
    }

    /// A follower ignores a snapshot it does not need (its commit index is already past it) and
    /// says `done`, so the leader moves on.
    @Test func followerIgnoresSnapshotOlderThanItsCommitIndex() {
        let n = TestNode(id: 2, voters: Self.voters, storage: storage(terms: Array(repeating: 1, count: 20), term: 1, voters: Self.voters, commit: 18))
        n.step(Message(from: 1, to: 2, body: .installSnapshot(InstallSnapshotRequest(
            term: 1, leaderID: 1, lastIncludedIndex: 15, lastIncludedTerm: 1, offset: 0, data: [1, 2, 3], done: false))))
        let ready = n.node.ready()
        #expect(ready.snapshot == nil)
        #expect(ready.messagesAfterPersist.first?.installSnapshotResponse?.done == true)
        #expect(n.raft.log.lastIndex == 20)
    }

    /// Figure 13 step 6: "If existing log entry has same index and term as snapshot's last
    /// included entry, retain log entries following it and reply".
    @Test func followerKeepsLogSuffixWhenItHoldsTheSnapshotsLastEntry() {
        let n = TestNode(id: 2, voters: Self.voters, storage: storage(terms: Array(repeating: 1, count: 20), term: 1, voters: Self.voters))
        n.step(Message(from: 1, to: 2, body: .installSnapshot(InstallSnapshotRequest(
            term: 1, leaderID: 1, lastIncludedIndex: 15, lastIncludedTerm: 1, offset: 0, data: [1], done: true))))
        let ready = n.node.ready()
        #expect(ready.snapshot == nil)
        #expect(ready.messagesAfterPersist.first?.installSnapshotResponse?.done == true)
        #expect(n.raft.log.committed == 15)
        #expect(n.raft.log.lastIndex == 20)
    }

    /// A chunk of a different snapshot (or from a newer leader) restarts buffering; a middle
    /// chunk of an unknown snapshot is answered with offset 0.
    @Test func followerRestartsBufferingWhenTheSnapshotChanges() {
        let n = TestNode(id: 2, voters: Self.voters)
        func chunk(_ index: UInt64, _ offset: UInt64, term: UInt64 = 1) -> Message {
            Message(from: 1, to: 2, body: .installSnapshot(InstallSnapshotRequest(
                term: term, leaderID: 1, lastIncludedIndex: index, lastIncludedTerm: 1, offset: offset,
                data: [UInt8](repeating: UInt8(index), count: 10), done: false)))
        }
        n.step(chunk(15, 0))
        n.step(chunk(15, 10))
        n.step(chunk(25, 10))
        n.step(chunk(25, 0))
        n.step(chunk(25, 10, term: 2))
        let answers = n.drain().compactMap(\.installSnapshotResponse).map(\.nextOffset)
        #expect(answers == [10, 20, 0, 10, 0])
    }

    /// The storage contract: compaction keeps the term of the snapshot's last entry readable.
    @Test func memoryStorageAnswersTermOfSnapshotIndexAfterCompaction() throws {
        let s = storage(terms: [1, 1, 2, 2, 3], term: 3, voters: Self.voters)
        try s.createSnapshot(3, data: [9], configuration: Configuration(voterIDs: [1, 2, 3]))
        try s.compact(3)
        #expect(try s.firstIndex() == 4)
        #expect(try s.term(3) == 2)
        #expect(throws: StorageError.compacted) { try s.term(2) }
        #expect(throws: StorageError.unavailable) { try s.term(6) }
        #expect(try s.entries(4, 6, maxSize: .max).map(\.term) == [2, 3])
    }
}
