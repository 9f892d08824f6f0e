import RaftMessages

/// The log as the core sees it (etcd's `raftLog`): what `Storage` holds, followed by what is not
/// yet persisted (`Unstable`), with the commit and apply positions.
///
/// Invariant: `applied <= committed <= lastIndex`, and `firstIndex - 1 <= committed`.
struct RaftLog {
    let storage: any Storage
    var unstable: Unstable
    /// Figure 2 `commitIndex`.
    var committed: UInt64
    /// Figure 2 `lastApplied`: the last index handed to the driver in `Ready.committedEntries`
    /// and acknowledged with `advance`.
    var applied: UInt64

    init(storage: any Storage) throws {
        self.storage = storage
        let first = try storage.firstIndex()
        let last = try storage.lastIndex()
        unstable = Unstable(offset: last + 1)
        committed = first - 1
        applied = first - 1
    }

    var firstIndex: UInt64 {
        if let index = unstable.maybeFirstIndex { return index }
        return mustStorage { try storage.firstIndex() }
    }

    var lastIndex: UInt64 {
        if let index = unstable.maybeLastIndex { return index }
        return mustStorage { try storage.lastIndex() }
    }

    var lastTerm: UInt64 {
        term(lastIndex) ?? 0
    }

    /// The term of entry `index`, or nil if it was compacted or does not exist.
    func term(_ index: UInt64) -> UInt64? {
        let dummy = firstIndex - 1
        if index < dummy || index > lastIndex { return nil }
        if let term = unstable.maybeTerm(index) { return term }
        do {
            return try storage.term(index)
        } catch StorageError.compacted, StorageError.unavailable {
            return nil
        } catch {
            fatalError("raft: storage failed: \(error)")
        }
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool {
        self.term(index) == term
    }

    /// §5.4.1: a log is at least as up to date as ours if its last term is greater, or equal with
    /// an index at least as large.
    func isUpToDate(lastIndex candidateIndex: UInt64, lastTerm candidateTerm: UInt64) -> Bool {
        let ourTerm = lastTerm
        return candidateTerm > ourTerm || (candidateTerm == ourTerm && candidateIndex >= lastIndex)
    }

    /// The first entry of `entries` whose term differs from ours at its index (or that we lack);
    /// nil when we already hold all of them.
    func findConflict(_ entries: [LogEntry]) -> UInt64? {
        for entry in entries where !matchTerm(entry.index, entry.term) {
            return entry.index
        }
        return nil
    }

    /// Figure 2, AppendEntries receiver steps 2–5: if our log holds `prevIndex` with `prevTerm`,
    /// delete any conflicting suffix, append what is new and advance the commit index to
    /// `min(leaderCommit, index of last new entry)`. Returns that last new index, or nil when the
    /// consistency check fails.
    mutating func maybeAppend(
        prevIndex: UInt64, prevTerm: UInt64, leaderCommit: UInt64, entries: [LogEntry]
    ) -> UInt64? {
        guard matchTerm(prevIndex, prevTerm) else { return nil }
        let lastNew = prevIndex + UInt64(entries.count)
        if let conflict = findConflict(entries) {
            precondition(conflict > committed, "raft: entry \(conflict) conflicts with committed \(committed)")
            append(Array(entries[Int(conflict - prevIndex - 1)...]))
        }
        commit(to: min(leaderCommit, lastNew))
        return lastNew
    }

    @discardableResult
    mutating func append(_ entries: [LogEntry]) -> UInt64 {
        guard let first = entries.first else { return lastIndex }
        precondition(first.index > committed, "raft: appending at \(first.index) below commit \(committed)")
        unstable.truncateAndAppend(entries)
        return lastIndex
    }

    mutating func commit(to index: UInt64) {
        if committed < index {
            precondition(index <= lastIndex, "raft: commit \(index) beyond last index \(lastIndex)")
            committed = index
        }
    }

    /// §5.4.2: a leader only commits by counting replicas an entry of its current term.
    mutating func maybeCommit(_ index: UInt64, term: UInt64) -> Bool {
        guard index > committed, self.term(index) == term else { return false }
        commit(to: index)
        return true
    }

    mutating func applied(to index: UInt64) {
        guard index != 0 else { return }
        precondition(index <= committed && index >= applied, "raft: applied \(index) out of range")
        applied = index
    }

    mutating func stableTo(index: UInt64, term: UInt64) {
        unstable.stableTo(index: index, term: term)
    }

    mutating func stableSnapshotTo(_ index: UInt64) {
        unstable.stableSnapshotTo(index)
    }

    /// Replaces the log by a snapshot received from the leader (§7).
    mutating func restore(_ snapshot: Snapshot) {
        committed = snapshot.metadata.index
        unstable.restore(snapshot)
    }

    /// The latest snapshot: a received one not yet persisted, else the storage's.
    func snapshot() throws -> Snapshot {
        if let snapshot = unstable.snapshot { return snapshot }
        return try storage.snapshot()
    }

    var unstableEntries: [LogEntry] { unstable.entries }

    var hasNextCommittedEntries: Bool {
        unstable.snapshot == nil && committed > max(applied, firstIndex - 1)
    }

    /// Figure 2, Rules for All Servers: "If commitIndex > lastApplied: increment lastApplied,
    /// apply log[lastApplied] to state machine" — the entries committed but not yet applied,
    /// handed to the driver in `Ready.committedEntries`. Empty while a received snapshot is
    /// pending: the snapshot is applied first, and entries after it come in the next `Ready`.
    func nextCommittedEntries(maxSize: Int) -> [LogEntry] {
        guard hasNextCommittedEntries else { return [] }
        let lo = max(applied + 1, firstIndex)
        return (try? slice(lo, committed + 1, maxSize: maxSize)) ?? []
    }

    /// Entries in `[lo, hi)`, at most `maxSize` bytes (at least one entry). Throws `.compacted`
    /// when `lo` is before the first available index.
    func slice(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws -> [LogEntry] {
        if lo < firstIndex { throw StorageError.compacted }
        precondition(hi <= lastIndex + 1, "raft: slice beyond last index")
        if lo >= hi { return [] }
        var result: [LogEntry] = []
        if lo < unstable.offset {
            let stored: [LogEntry]
            do {
                stored = try storage.entries(lo, min(hi, unstable.offset), maxSize: maxSize)
            } catch StorageError.compacted {
                throw StorageError.compacted
            } catch {
                fatalError("raft: storage failed: \(error)")
            }
            if UInt64(stored.count) < min(hi, unstable.offset) - lo { return stored }
            result = stored
        }
        if hi > unstable.offset {
            var size = result.reduce(0) { $0 + $1.wireSize }
            for entry in unstable.slice(max(lo, unstable.offset), hi) {
                size += entry.wireSize
                if !result.isEmpty && size > maxSize { break }
                result.append(entry)
            }
        }
        return result
    }
}

/// Storage reads that may not fail (indices the core knows exist): a failure is unrecoverable,
/// as in etcd, which panics.
func mustStorage<T>(_ body: () throws -> T) -> T {
    do {
        return try body()
    } catch {
        fatalError("raft: storage failed: \(error)")
    }
}
