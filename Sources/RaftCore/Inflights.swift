/// The window of AppendEntries in flight to one follower (etcd's `Inflights`): the last index of
/// each message carrying entries, oldest first. When it is full the leader stops sending entries
/// to that follower until acknowledgements free slots.
struct Inflights {
    let capacity: Int
    private(set) var indices: [UInt64] = []

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isFull: Bool { indices.count >= capacity }
    var count: Int { indices.count }

    mutating func add(_ lastIndex: UInt64) {
        precondition(!isFull, "raft: inflights window overflow")
        indices.append(lastIndex)
    }

    /// Frees every message whose entries end at or before `index` (they were acknowledged).
    mutating func free(upTo index: UInt64) {
        let n = indices.prefix { $0 <= index }.count
        indices.removeFirst(n)
    }

    mutating func freeFirstOne() {
        if !indices.isEmpty { indices.removeFirst() }
    }

    mutating func reset() {
        indices.removeAll(keepingCapacity: true)
    }
}
