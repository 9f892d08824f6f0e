import NIOCore

/// Requests written on one outbound connection and not yet answered, by envelope id: to pair
/// responses (which may come in any order: pipelining, proto/raft.proto), to measure request-to-response
/// latency and to expire requests that get no answer.
///
/// Ids are assigned in write order and every request gets the same timeout, so deadlines grow
/// with ids; expiry walks `order` from the front, skipping entries already answered.
struct InFlightRequests {
    struct Entry {
        let rpc: RPCKind
        /// When the node handed the request to `send` (latency is measured from here).
        let enqueuedAt: NIODeadline
        /// Written at + request timeout.
        let deadline: NIODeadline
    }

    private var entries: [UInt64: Entry] = [:]
    private var order = CircularBuffer<(id: UInt64, deadline: NIODeadline)>()

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// The deadline of the oldest unanswered request.
    var earliestDeadline: NIODeadline? { order.first?.deadline }

    mutating func insert(id: UInt64, _ entry: Entry) {
        entries[id] = entry
        order.append((id, entry.deadline))
    }

    /// Takes the request answered by a response with `id` (nil if unknown or already expired).
    mutating func remove(id: UInt64) -> Entry? {
        let entry = entries.removeValue(forKey: id)
        trimAnswered()
        return entry
    }

    /// Takes every request whose deadline is at or before `now`.
    mutating func expire(now: NIODeadline) -> [Entry] {
        var expired: [Entry] = []
        while let first = order.first, first.deadline <= now {
            order.removeFirst()
            if let entry = entries.removeValue(forKey: first.id) { expired.append(entry) }
        }
        trimAnswered()
        return expired
    }

    /// Takes everything (the connection closed).
    mutating func removeAll() -> [Entry] {
        let all = Array(entries.values)
        entries.removeAll()
        order.removeAll()
        return all
    }

    private mutating func trimAnswered() {
        while let first = order.first, entries[first.id] == nil { order.removeFirst() }
    }
}
