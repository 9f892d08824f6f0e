import RaftCore
import RaftMessages

/// What the randomized simulation remembers to check the safety properties of Figure 3.
struct Invariants {
    /// Election Safety: the leader seen for each term.
    var leaderOfTerm: [UInt64: Int] = [:]
    /// Log Matching: every (index, term) ever persisted, with its command and previous term.
    var entries: [EntryKey: (data: [UInt8], prevTerm: UInt64?)] = [:]
    /// State Machine Safety / Leader Completeness: the command applied at each index, and the
    /// term of the server that applied it first — the entry was committed in that term or
    /// earlier.
    var committed: [UInt64: (data: [UInt8], term: UInt64)] = [:]

    struct EntryKey: Hashable {
        let index: UInt64
        let term: UInt64
    }
}

extension SimCluster {
    /// Election Safety ("at most one leader can be elected in a given term") and Leader
    /// Completeness ("if a log entry is committed in a given term, then that entry will be
    /// present in the logs of the leaders for all higher-numbered terms"), checked whenever a
    /// leader is seen for the first time. A leader of a lower term may still appear late (its
    /// votes were granted before the higher term began); only entries known committed in a
    /// lower term than the leader's are required of it.
    func checkLeaders() {
        for i in 0..<n {
            guard let server = servers[i], server.node.isLeader else { continue }
            let term = server.node.term
            if let other = invariants.leaderOfTerm[term] {
                if other != i { record("election safety: servers \(other) and \(i) both lead term \(term)") }
                continue
            }
            invariants.leaderOfTerm[term] = i
            let storage = server.storage
            let snapshotIndex = (try? storage.snapshot().metadata.index) ?? 0
            let last = (try? storage.lastIndex()) ?? 0
            for (index, committed) in invariants.committed where index > snapshotIndex && committed.term < term {
                let data = committed.data
                guard index <= last, let entry = try? storage.entries(index, index + 1, maxSize: .max).first,
                    entry.data == data
                else {
                    record("leader completeness: leader \(i) of term \(term) lacks committed index \(index)")
                    return
                }
            }
        }
    }

    /// Leader Append-Only ("a leader never overwrites or deletes entries in its log") and Log
    /// Matching ("if two logs contain an entry with the same index and term, then the logs are
    /// identical in all entries up through the given index"), checked on every persisted append.
    func checkAppend(_ server: SimServer, _ entries: [LogEntry]) {
        guard let first = entries.first else { return }
        let storage = server.storage
        let last = (try? storage.lastIndex()) ?? 0
        if server.node.isLeader && first.index <= last {
            record("leader append-only: leader \(server.index) overwrote index \(first.index) (last \(last))")
        }
        var prevTerm = try? storage.term(first.index - 1)
        for entry in entries {
            let key = Invariants.EntryKey(index: entry.index, term: entry.term)
            if let known = invariants.entries[key] {
                if known.data != entry.data {
                    record("log matching: two different entries at index \(entry.index) term \(entry.term)")
                }
                if let a = known.prevTerm, let b = prevTerm, a != b {
                    record("log matching: entries at index \(entry.index) term \(entry.term) follow different terms")
                }
            } else {
                invariants.entries[key] = (entry.data, prevTerm)
            }
            prevTerm = entry.term
        }
    }
}
