import Foundation
import RaftCore
import RaftMessages
import Testing

@testable import RaftStorage

/// Random sequences of append / conflicting append / hard state / snapshot (created or a
/// leader's) / compact / close+reopen, against `MemoryStorage` as the model: after every step
/// both must report the same log, terms, bounds, hard state and snapshot.
///
/// A failure prints its seed; `RAFT_STORAGE_SEED=<seed> swift test --filter PropertyTests`
/// replays it.
@Suite struct PropertyTests {
    @Test func randomOperationsMatchMemoryStorage() throws {
        for seed in testSeeds(count: 12) {
            try run(seed: seed, steps: 300)
        }
    }

    func run(seed: UInt64, steps: Int) throws {
        var rng = TestRandom(seed: seed)
        let dir = TempDirectory("raftprop")
        defer { dir.cleanup() }
        let options = DiskStorageOptions(
            segmentSize: [200, 700, 4096].randomElement(using: &rng)!, voters: [1, 2, 3], unsafeNoFsync: true)
        let model = MemoryStorage(voters: [1, 2, 3])
        var disk = try DiskStorage(directory: dir.data, options: options)
        var term: UInt64 = 1
        var trace: [String] = []

        func check(_ step: Int) throws -> Bool {
            let expected = try StorageView(model)
            let got = try StorageView(disk)
            if expected != got {
                Issue.record(
                    """
                    seed \(seed) step \(step): disk storage differs from the model
                    replay with: RAFT_STORAGE_SEED=\(seed) swift test --filter PropertyTests
                    last operations: \(trace.suffix(8).joined(separator: "; "))
                    model: \(expected)
                    disk:  \(got)
                    """)
                return false
            }
            return true
        }

        for step in 0..<steps {
            let first = try model.firstIndex()
            let last = try model.lastIndex()
            let snapshotIndex = model.currentSnapshot.metadata.index
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<35:
                // Append at the end, sometimes resending what is already there (from before the
                // compaction point, which the storage must skip).
                let count = UInt64.random(in: 1...6, using: &rng)
                var batch: [LogEntry] = []
                if first > 1 && Bool.random(using: &rng) {
                    batch = [LogEntry(index: first - 1, term: try model.term(first - 1))]
                    batch += try model.entries(first, last + 1, maxSize: .max)
                }
                batch += entries((last + 1)...(last + count), term: term, size: Int.random(in: 0...60, using: &rng))
                let newHS = Bool.random(using: &rng) ? HardState(term: term, vote: 1, commit: min(last, model.hardState.commit + 1)) : nil
                let sync = Bool.random(using: &rng)
                trace.append("append \(batch.first!.index)...\(batch.last!.index) t\(term) hs=\(newHS.map { "\($0)" } ?? "-") sync=\(sync)")
                try disk.persist(hardState: newHS, entries: batch, snapshot: nil, sync: sync)
                try model.append(batch)
                if let newHS { model.setHardState(newHS) }
            case 35..<50:
                // A new leader overwrites a suffix (§5.3); never what a snapshot covers (a
                // snapshot holds only committed entries, and those are never overwritten).
                let lowest = max(first, snapshotIndex + 1)
                guard last >= lowest else { continue }
                term += 1
                let start = UInt64.random(in: lowest...last, using: &rng)
                let batch = entries(start...(start + UInt64.random(in: 0...4, using: &rng)), term: term, size: 5)
                trace.append("conflict \(batch.first!.index)...\(batch.last!.index) t\(term)")
                try disk.append(batch)
                try model.append(batch)
            case 50..<60:
                term += UInt64.random(in: 0...1, using: &rng)
                let hs = HardState(term: term, vote: UInt64.random(in: 0...3, using: &rng), commit: UInt64.random(in: 0...last, using: &rng))
                trace.append("hardState \(hs)")
                try disk.setHardState(hs)
                model.setHardState(hs)
            case 60..<70:
                guard last > snapshotIndex else { continue }
                let index = UInt64.random(in: (snapshotIndex + 1)...last, using: &rng)
                let data = rng.bytes(Int.random(in: 0...300, using: &rng))
                let voters: [UInt64]? = Bool.random(using: &rng) ? nil : [1, 2, 3, UInt64(step)]
                trace.append("createSnapshot \(index)")
                try disk.createSnapshot(index, data: data, configuration: voters.map { Configuration(voterIDs: $0) } ?? Configuration(voterIDs: [1, 2, 3]))
                try model.createSnapshot(index, data: data, configuration: voters.map { Configuration(voterIDs: $0) } ?? Configuration(voterIDs: [1, 2, 3]))
            case 70..<78:
                guard snapshotIndex >= first else { continue }
                let index = UInt64.random(in: first...snapshotIndex, using: &rng)
                trace.append("compact \(index)")
                try disk.compact(index)
                try model.compact(index)
            case 78..<83:
                // A leader's snapshot, ahead of or inside our log, with entries after it.
                term += 1
                let ahead = last > snapshotIndex ? last - snapshotIndex : 0
                let index = snapshotIndex + UInt64.random(in: 1...(ahead + 20), using: &rng)
                let snapshot = Snapshot(
                    metadata: SnapshotMetadata(index: index, term: term, configuration: Configuration(voterIDs: [1, 2, 3])), data: rng.bytes(50))
                let after = Bool.random(using: &rng) ? entries((index + 1)...(index + 3), term: term) : []
                let hs = HardState(term: term, vote: 2, commit: index)
                trace.append("applySnapshot \(index) t\(term) +\(after.count)")
                try disk.persist(hardState: hs, entries: after, snapshot: snapshot, sync: true)
                try model.applySnapshot(snapshot)
                try model.append(after)
                model.setHardState(hs)
            case 83..<88:
                // Errors must match the model's.
                if snapshotIndex > 0 {
                    trace.append("stale createSnapshot")
                    #expect(throws: StorageError.snapshotOutOfDate) { try disk.createSnapshot(snapshotIndex, data: [], configuration: Configuration(voterIDs: [1, 2, 3])) }
                    #expect(throws: StorageError.snapshotOutOfDate) { try model.createSnapshot(snapshotIndex, data: [], configuration: Configuration(voterIDs: [1, 2, 3])) }
                }
                #expect(throws: StorageError.unavailable) { try disk.append(entries((last + 2)...(last + 2), term: term)) }
                #expect(throws: StorageError.unavailable) { try model.append(entries((last + 2)...(last + 2), term: term)) }
            default:
                trace.append("reopen")
                try disk.close()
                disk = try DiskStorage(directory: dir.data, options: options)
                #expect(disk.recoveryReport.tornTailsTruncated == 0)
            }
            if try !check(step) { return }
        }
        try disk.close()
        disk = try DiskStorage(directory: dir.data, options: options)
        _ = try check(steps)
        // Compaction deleted what it could: never more segments than the live log needs plus one.
        #expect(try segmentFiles(dir.data).count == disk.segmentCount)
        #expect(try snapFiles(dir.data).count <= 1)
        try disk.close()
    }
}
