import RaftMessages
import Testing

@testable import RaftKV

/// The key-value state machine, entry by entry, as every member applies it.
@Suite struct KVStoreTests {
    private var nextIndex: UInt64 = 1

    private mutating func entry(_ request: ClientRequest) throws -> LogEntry {
        defer { nextIndex += 1 }
        return LogEntry(index: nextIndex, term: 1, data: try KVStore.command(for: request))
    }

    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test mutating func putThenGetThenDelete() throws {
        let store = KVStore()
        let put = store.apply(try entry(ClientRequest(requestID: 9, clientID: 1, sequence: 1, operation: .put(key: k("a"), value: k("1")))))
        #expect(put == ClientResponse(requestID: 0, status: .ok, index: 1))
        #expect(store.get(k("a")) == k("1"))
        store.apply(try entry(ClientRequest(requestID: 9, clientID: 1, sequence: 2, operation: .delete(key: k("a")))))
        #expect(store.get(k("a")) == nil)
        // Deleting an absent key succeeds.
        let again = store.apply(try entry(ClientRequest(requestID: 9, clientID: 1, sequence: 3, operation: .delete(key: k("a")))))
        #expect(again?.status == .ok)
        #expect(store.appliedIndex == 3)
    }

    @Test mutating func readsThroughTheLogSeeEveryEarlierWriteAndChangeNothing() throws {
        let store = KVStore()
        #expect(store.apply(try entry(ClientRequest(requestID: 1, operation: .get(key: k("a")))))?.status == .notFound)
        store.apply(try entry(ClientRequest(requestID: 2, clientID: 3, sequence: 1, operation: .put(key: k("a"), value: k("1")))))
        let read = store.apply(try entry(ClientRequest(requestID: 3, clientID: 3, sequence: 1, operation: .get(key: k("a")))))
        #expect(read == ClientResponse(requestID: 0, status: .ok, value: k("1"), index: 3))
        #expect(store.sessions[3]?.sequence == 1, "a read does not touch the client's session")
    }

    @Test mutating func compareAndSwapChecksPresenceAndValue() throws {
        let store = KVStore()
        func cas(_ expected: [UInt8]?, _ value: String, seq: UInt64) throws -> KVStatus? {
            store.apply(try entry(ClientRequest(requestID: 1, clientID: 7, sequence: seq, operation: .compareAndSwap(key: k("x"), expected: expected, value: k(value)))))?.status
        }
        #expect(try cas(k("old"), "v1", seq: 1) == .casFailed)  // absent, expected a value
        #expect(try cas(nil, "v1", seq: 2) == .ok)  // absent, expected absent
        #expect(try cas(nil, "v2", seq: 3) == .casFailed)  // present, expected absent
        #expect(try cas(k("wrong"), "v2", seq: 4) == .casFailed)
        #expect(try cas(k("v1"), "v2", seq: 5) == .ok)
        #expect(try cas([], "v3", seq: 6) == .casFailed)  // empty value is not absence
        #expect(store.get(k("x")) == k("v2"))
    }

    @Test mutating func retriedWriteAppliesExactlyOnce() throws {
        let store = KVStore()
        let first = try entry(ClientRequest(requestID: 1, clientID: 5, sequence: 1, operation: .put(key: k("n"), value: k("client5"))))
        #expect(store.apply(first)?.index == 1)
        // Another client overwrites the key; then client 5's retry of sequence 1 is committed again.
        store.apply(try entry(ClientRequest(requestID: 1, clientID: 6, sequence: 1, operation: .put(key: k("n"), value: k("client6")))))
        let retry = store.apply(try entry(ClientRequest(requestID: 2, clientID: 5, sequence: 1, operation: .put(key: k("n"), value: k("client5")))))
        #expect(retry == ClientResponse(requestID: 0, status: .ok, index: 1), "answered as the first time")
        #expect(store.get(k("n")) == k("client6"), "not applied a second time")
        // A failed CAS is remembered as failed too.
        store.apply(try entry(ClientRequest(requestID: 3, clientID: 5, sequence: 2, operation: .compareAndSwap(key: k("n"), expected: nil, value: k("z")))))
        let casRetry = store.apply(try entry(ClientRequest(requestID: 4, clientID: 5, sequence: 2, operation: .compareAndSwap(key: k("n"), expected: nil, value: k("z")))))
        #expect(casRetry?.status == .casFailed)
    }

    @Test mutating func sequencesOlderThanTheLastWriteAreRefused() throws {
        let store = KVStore()
        store.apply(try entry(ClientRequest(requestID: 1, clientID: 5, sequence: 4, operation: .put(key: k("a"), value: k("4")))))
        let stale = store.apply(try entry(ClientRequest(requestID: 1, clientID: 5, sequence: 3, operation: .put(key: k("a"), value: k("3")))))
        #expect(stale?.status == .error)
        #expect(store.get(k("a")) == k("4"))
    }

    @Test mutating func writesWithoutClientIDAreNotDeduplicated() throws {
        let store = KVStore()
        let e1 = try entry(ClientRequest(requestID: 1, operation: .put(key: k("a"), value: k("1"))))
        store.apply(e1)
        store.apply(try entry(ClientRequest(requestID: 1, operation: .put(key: k("a"), value: k("2")))))
        #expect(store.get(k("a")) == k("2"))
        #expect(store.sessionCount == 0)
    }

    @Test func noopAndUndecodableEntriesAreHandledDeterministically() throws {
        let store = KVStore()
        #expect(store.apply(LogEntry(index: 1, term: 1, type: .noop)) == nil)
        let garbage = store.apply(LogEntry(index: 2, term: 1, data: [0xFF, 0xFF]))
        #expect(garbage?.status == .error)
        let status = store.apply(LogEntry(index: 3, term: 1, data: try KVStore.command(for: ClientRequest(requestID: 1, operation: .status))))
        #expect(status?.status == .error)
        #expect(store.appliedIndex == 3)
        #expect(store.count == 0)
    }
}

/// Snapshots hold keys and sessions, stream chunk by chunk, and reject corruption untouched.
@Suite struct KVSnapshotTests {
    private func populated(keys: Int, clients: Int) throws -> KVStore {
        let store = KVStore()
        var index: UInt64 = 0
        for i in 0..<keys {
            index += 1
            let client = UInt64(i % max(clients, 1)) + 1
            let request = ClientRequest(
                requestID: 1, clientID: clients == 0 ? 0 : client, sequence: UInt64(i / max(clients, 1)) + 1,
                operation: .put(key: Array("key-\(i)".utf8), value: (0..<(i % 300)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ i &* 7) }))
            store.apply(LogEntry(index: index, term: 1, data: try KVStore.command(for: request)))
        }
        return store
    }

    @Test func snapshotRestoresKeysAndSessions() throws {
        let store = try populated(keys: 2_000, clients: 10)
        let restored = KVStore()
        try restored.restore(index: store.appliedIndex, snapshot: try store.snapshotBytes())
        #expect(restored.count == 2_000)
        #expect(restored.sessionCount == 10)
        #expect(restored.appliedIndex == store.appliedIndex)
        for i in stride(from: 0, to: 2_000, by: 37) {
            #expect(restored.get(Array("key-\(i)".utf8)) == store.get(Array("key-\(i)".utf8)))
        }
        // Client 1's last write was sequence 200 at index 1991: a retry after restore is
        // answered from the restored session, not applied again.
        let retry = ClientRequest(requestID: 1, clientID: 1, sequence: 200, operation: .put(key: Array("key-0".utf8), value: [9]))
        let answer = restored.apply(LogEntry(index: 2_001, term: 2, data: try KVStore.command(for: retry)))
        #expect(answer == ClientResponse(requestID: 0, status: .ok, index: 1_991))
        #expect(restored.get(Array("key-0".utf8)) == store.get(Array("key-0".utf8)))
    }

    @Test func snapshotStreamsInSmallChunksBothWays() throws {
        let store = try populated(keys: 20_000, clients: 3)
        var chunks: [[UInt8]] = []
        try store.snapshotView().write { chunks.append(Array($0)) }
        #expect(chunks.count >= 4, "written in pieces, not whole")
        #expect(chunks.allSatisfy { $0.count < KVSnapshotView.chunkBytes + 64 * 1_024 })
        let reader = KVSnapshotReader()
        for chunk in chunks {
            for piece in stride(from: 0, to: chunk.count, by: 97) {
                try Array(chunk[piece..<min(chunk.count, piece + 97)]).withUnsafeBytes { try reader.consume($0) }
            }
        }
        try reader.finish()
        let restored = KVStore()
        restored.restore(index: 20_000, from: reader)
        #expect(restored.count == store.count && restored.sessions == store.sessions)
        for i in 0..<20_000 {
            let key = Array("key-\(i)".utf8)
            #expect(restored.get(key) == store.get(key))
        }
    }

    @Test func aSnapshotViewIsNotChangedByLaterWrites() throws {
        let store = try populated(keys: 3_000, clients: 2)
        let view = store.snapshotView()
        let before = try store.snapshotBytes()
        // Writes to every shard after the view was taken: the view still holds the old state.
        for i in 0..<3_000 {
            let request = ClientRequest(requestID: 1, clientID: 0, sequence: 0, operation: i % 2 == 0
                ? .put(key: Array("key-\(i)".utf8), value: [1]) : .delete(key: Array("key-\(i)".utf8)))
            store.apply(LogEntry(index: 3_000 + UInt64(i) + 1, term: 2, data: try KVStore.command(for: request)))
        }
        let reader = KVSnapshotReader()
        try view.write { try reader.consume($0) }
        try reader.finish()
        let restored = KVStore()
        restored.restore(index: view.index, from: reader)
        let fromBytes = KVStore()
        try fromBytes.restore(index: 3_000, snapshot: before)
        #expect(view.index == 3_000 && restored.count == 3_000 && store.count == 1_500)
        for i in 0..<3_000 {
            let key = Array("key-\(i)".utf8)
            #expect(restored.get(key) == fromBytes.get(key) && restored.get(key) != nil)
        }
    }

    /// A member replacing its state by a snapshot never holds both: the store drops its own
    /// state when the node asks for a restorer, and the restored one replaces it whole.
    @Test func aRestorerStartsFromAnEmptyStore() throws {
        let source = try populated(keys: 500, clients: 2)
        let target = try populated(keys: 800, clients: 3)
        let restorer = target.makeRestorer()
        #expect(target.count == 0 && target.sessionCount == 0, "old state dropped")
        try source.snapshotView().write { try restorer.consume($0) }
        try restorer.finish()
        target.restore(restorer, index: source.appliedIndex)
        #expect(target.sameState(as: source) && target.appliedIndex == source.appliedIndex)
    }

    @Test func emptyStoreSnapshotRoundTrips() throws {
        let empty = KVStore()
        let restored = try populated(keys: 10, clients: 1)
        try restored.restore(index: 0, snapshot: try empty.snapshotBytes())
        #expect(restored.count == 0 && restored.sessionCount == 0 && restored.appliedIndex == 0)
    }

    @Test func corruptOrTruncatedSnapshotLeavesTheStoreUntouched() throws {
        let source = try populated(keys: 300, clients: 2)
        let bytes = try source.snapshotBytes()
        let target = try populated(keys: 5, clients: 1)

        #expect(throws: KVSnapshotError.self) { try target.restore(index: 99, snapshot: Array(bytes.dropLast(3))) }
        // Every single-bit flip in the first 2 KiB and the last 64 bytes is either caught or
        // lands in bits zlib ignores (block padding) and restores the very same state: never
        // different data. (zlib's Adler-32 alone lets a few through; the trailer's CRC-32 not.)
        var caught = 0
        for position in Array(0..<min(2_048, bytes.count)) + Array((bytes.count - 64)..<bytes.count) {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[position] ^= UInt8(1 << bit)
                let probe = KVStore()
                do {
                    try probe.restore(index: 99, snapshot: flipped)
                    #expect(probe.sameState(as: source), "flip of bit \(bit) at \(position)")
                } catch is KVSnapshotError {
                    caught += 1
                }
            }
        }
        #expect(caught > 16_000)
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x10
        #expect(throws: KVSnapshotError.self) { try target.restore(index: 99, snapshot: flipped) }
        #expect(throws: KVSnapshotError.self) { try target.restore(index: 99, snapshot: [1, 2, 3, 4]) }
        #expect(target.count == 5 && target.appliedIndex == 5)
    }
}

extension KVStore {
    /// Same pairs and sessions (shards compared pair by pair: their placement is per process).
    func sameState(as other: KVStore) -> Bool {
        guard count == other.count, sessions == other.sessions else { return false }
        var same = true
        pairs.forEach { key, value in if other.get(key) != value { same = false } }
        return same
    }
}
