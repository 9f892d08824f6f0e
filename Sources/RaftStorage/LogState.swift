import RaftCore
import RaftMessages

/// The log as replayed from disk and kept in memory: what `Storage` answers from.
///
/// As in `MemoryStorage`, `ents[0]` is a dummy standing for the compaction point (the snapshot):
/// its index and term are those of the last compacted entry, so `term(firstIndex - 1)` answers.
struct LogState {
    var hardState = HardState()
    private(set) var ents: [LogEntry] = [LogEntry(index: 0, term: 0)]

    var dummyIndex: UInt64 { ents[0].index }
    var dummyTerm: UInt64 { ents[0].term }
    var lastIndex: UInt64 { ents[0].index + UInt64(ents.count - 1) }
    var lastTerm: UInt64 { ents[ents.count - 1].term }

    /// The term of `index` if it is held (the dummy included).
    func term(at index: UInt64) -> UInt64? {
        guard index >= dummyIndex && index <= lastIndex else { return nil }
        return ents[Int(index - dummyIndex)].term
    }

    func entry(at index: UInt64) -> LogEntry {
        ents[Int(index - dummyIndex)]
    }

    /// Replaces the whole log by a compaction point (snapshot install, or start of replay).
    mutating func reset(index: UInt64, term: UInt64) {
        ents.removeAll(keepingCapacity: true)
        ents.append(LogEntry(index: index, term: term))
    }

    /// Sets the compaction point's term, keeping the entries after it (`index == dummyIndex`).
    mutating func reset(index: UInt64, term: UInt64, keepingEntries: Bool) {
        precondition(index == dummyIndex && keepingEntries)
        ents[0] = LogEntry(index: index, term: term)
    }

    /// The part of `entries` that is newer than the compaction point (older entries are ignored,
    /// as `MemoryStorage.append` does).
    func newerPart(of entries: [LogEntry]) -> ArraySlice<LogEntry> {
        guard let first = entries.first else { return [] }
        let firstKept = dummyIndex + 1
        if entries[entries.count - 1].index < firstKept { return [] }
        if first.index >= firstKept { return entries[...] }
        return entries[Int(firstKept - first.index)...]
    }

    /// Appends consecutive entries that start at most one past the last index, dropping the
    /// suffix they replace (§5.3). The caller has checked `entries.first!.index <= lastIndex + 1`
    /// and `> dummyIndex`.
    mutating func append(_ entries: ArraySlice<LogEntry>) {
        guard let first = entries.first else { return }
        let keep = Int(first.index - dummyIndex)
        if keep < ents.count { ents.removeSubrange(keep...) }
        ents.append(contentsOf: entries)
    }

    /// Discards the entries through `index` (`dummyIndex < index <= lastIndex`).
    mutating func compact(through index: UInt64) {
        let i = Int(index - dummyIndex)
        let dummy = LogEntry(index: ents[i].index, term: ents[i].term)
        ents.removeSubrange(0..<i)
        ents[0] = dummy
    }
}
