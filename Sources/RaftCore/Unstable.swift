import RaftMessages

/// Entries (and at most one snapshot) the core has accepted but the driver has not yet persisted
/// (etcd's `unstable`). `entries[i]` has index `offset + i`.
struct Unstable {
    var snapshot: Snapshot?
    var entries: [LogEntry] = []
    var offset: UInt64

    init(offset: UInt64) {
        self.offset = offset
    }

    /// First index, if only an unstable snapshot can tell it.
    var maybeFirstIndex: UInt64? {
        snapshot.map { $0.metadata.index + 1 }
    }

    var maybeLastIndex: UInt64? {
        if let last = entries.last { return last.index }
        return snapshot?.metadata.index
    }

    func maybeTerm(_ index: UInt64) -> UInt64? {
        if index < offset {
            if let snapshot, snapshot.metadata.index == index { return snapshot.metadata.term }
            return nil
        }
        guard let last = maybeLastIndex, index <= last else { return nil }
        return entries[Int(index - offset)].term
    }

    /// The driver persisted the entries through `index`; only drop them if they are still the
    /// entries it persisted (same term).
    mutating func stableTo(index: UInt64, term: UInt64) {
        guard index >= offset, maybeTerm(index) == term else { return }
        entries.removeFirst(Int(index - offset + 1))
        offset = index + 1
    }

    mutating func stableSnapshotTo(_ index: UInt64) {
        if snapshot?.metadata.index == index { snapshot = nil }
    }

    mutating func restore(_ snapshot: Snapshot) {
        offset = snapshot.metadata.index + 1
        entries = []
        self.snapshot = snapshot
    }

    /// Appends `newEntries`, first dropping every unstable entry at or after their first index
    /// (§5.3 conflict truncation; the storage truncates its own copy when the driver persists).
    mutating func truncateAndAppend(_ newEntries: [LogEntry]) {
        guard let first = newEntries.first?.index else { return }
        if first == offset + UInt64(entries.count) {
            entries.append(contentsOf: newEntries)
        } else if first <= offset {
            offset = first
            entries = newEntries
        } else {
            entries.removeSubrange(Int(first - offset)...)
            entries.append(contentsOf: newEntries)
        }
    }

    func slice(_ lo: UInt64, _ hi: UInt64) -> ArraySlice<LogEntry> {
        entries[Int(lo - offset)..<Int(hi - offset)]
    }
}
