/// Wing and Gong's search for a linearization of one register's history, with Lowe's
/// memoisation of explored configurations (the algorithm of porcupine's `checkSingle`).
///
/// The answered operations form a doubly linked list of call and return events in time order.
/// The search walks it from the front: at a call it tries to linearize that operation now
/// (apply it to the register and unlink its events); at a return it has reached an operation
/// that must already have taken effect, so unless an unanswered operation placed now helps, the
/// last choice was wrong and it backtracks. A configuration (operations placed, register value)
/// seen before is not explored again.
///
/// Unanswered operations have no return: they may take effect at any time after their invoke,
/// or never, so once every answered operation is placed the search is done. They would make it
/// exponential (each can be placed almost anywhere), so it only considers linearizations in a
/// canonical form:
///
/// - an unanswered operation that takes effect is immediately followed by one that needs it: a
///   reading operation that could not take effect on the value before it but can on the value
///   after it. Any linearization can be brought to that form by moving unanswered operations
///   later (always allowed: they have no completion): past an operation that succeeds either
///   way (only a failed cas can, and it leaves the register as it found it), or to the very end
///   when a write comes next and hides their value. So the search carries an *obligation*, the
///   value before the last unanswered operation placed, that the next operation placed must
///   fail on; it is part of the memoised configuration. And it only tries an unanswered
///   operation when an operation that could come next needs the value it writes.
/// - unanswered operations with the same step (deletes, puts of one value) are interchangeable,
///   except that an earlier invoked one can take effect wherever a later one can; so of each
///   such group only the earliest one not yet placed is tried.
///
/// And of two configurations that differ only in the unanswered operations placed, the one that
/// placed fewer can do all that the other can: a configuration that placed a superset of those
/// of an explored one (with the same answered operations, value and obligation) is not explored.
struct RegisterSearch {
    enum Result {
        case linearizable(steps: Int)
        /// No linearization. `prefix` is the deepest partial linearization reached (operation
        /// indices in order), `value` the register after it, and `blocker` the operation whose
        /// return event stopped it.
        case violation(prefix: [Int], value: Int32, blocker: Int?, steps: Int)
        case outOfBudget(steps: Int)
    }

    private let operations: [RegisterOperation]
    private let budget: Int
    /// Links of the event list of answered operations. Event `i < n` is operation i's call,
    /// event `n + i` its return; `head` is the sentinel before the first event; -1 ends the list.
    private var next: [Int32]
    private var prev: [Int32]
    private let head: Int
    /// Each operation's position among the answered, or among the unanswered, operations.
    private let slot: [Int]
    private let answeredCount: Int
    /// The groups of unanswered operations with equal steps, each in invoke order.
    private let groups: [[Int]]
    /// Each operation's group, -1 for answered operations.
    private let group: [Int]
    /// The groups whose operations write each value.
    private let groupsWriting: [Int32: [Int]]
    /// The groups of unanswered operations that read (cas).
    private let readingGroups: [Int]

    /// `operations` in invoke order, so that the placed sets stay compact (see `LinearizedSet`).
    init(operations: [RegisterOperation], budget: Int) {
        self.operations = operations
        self.budget = budget
        let n = operations.count
        head = 2 * n

        var slot = Array(repeating: 0, count: n)
        var answeredCount = 0
        var unansweredCount = 0
        var groupOfStep: [RegisterOperation.Step: Int] = [:]
        var groups: [[Int]] = []
        var group = Array(repeating: -1, count: n)
        var groupsWriting: [Int32: [Int]] = [:]
        var events: [(time: UInt64, isReturn: Bool, event: Int)] = []
        for (index, operation) in operations.enumerated() {
            if let complete = operation.complete {
                slot[index] = answeredCount
                answeredCount += 1
                events.append((operation.invoke, false, index))
                events.append((complete, true, n + index))
            } else {
                slot[index] = unansweredCount
                unansweredCount += 1
                let id = groupOfStep[operation.step] ?? groups.count
                if id == groups.count {
                    groupOfStep[operation.step] = id
                    groups.append([])
                    groupsWriting[operation.written!, default: []].append(id)
                }
                groups[id].append(index)
                group[index] = id
            }
        }
        self.slot = slot
        self.answeredCount = answeredCount
        self.groups = groups
        self.group = group
        self.groupsWriting = groupsWriting
        readingGroups = groups.indices.filter { operations[groups[$0][0]].reads }

        // At equal times calls come first, making touching operations concurrent: the clock
        // cannot tell which came first.
        events.sort { ($0.time, $0.isReturn ? 1 : 0, $0.event) < ($1.time, $1.isReturn ? 1 : 0, $1.event) }
        next = Array(repeating: -1, count: 2 * n + 1)
        prev = Array(repeating: -1, count: 2 * n + 1)
        var last = 2 * n
        for event in events {
            next[last] = Int32(event.event)
            prev[event.event] = Int32(last)
            last = event.event
        }
    }

    mutating func run() -> Result {
        let n = operations.count
        var answeredLeft = answeredCount
        var placedAnswered = LinearizedSet(capacity: answeredCount, seed: 0x9e37_79b9_7f4a_7c15)
        // Unanswered operations are few: a plain bitset of their slots.
        var placedUnanswered = Array(repeating: UInt64(0), count: (n - answeredCount + 63) / 64)
        var placedOfGroup = Array(repeating: 0, count: groups.count)
        // The explored configurations: for each key, the sets of unanswered operations placed
        // with it (a configuration whose set includes one of them can do no more).
        var seen: [MemoKey: [[UInt64]]] = [:]
        var value: Int32 = 0
        /// The value the next operation must fail on, or `none`.
        var obligation = Self.none
        var stack: [(operation: Int, valueBefore: Int32, obligationBefore: Int32)] = []

        // The deepest partial linearization so far, kept without copying the stack at every new
        // depth: `best[..<shared]` always equals the stack's bottom, so only the part above
        // `shared` is copied, and each stack entry is copied at most once per push.
        var best: [Int] = []
        var shared = 0
        var bestValue: Int32 = 0
        var blocker: Int?

        // Where the walk is: at an event of the list, or (after the list's first return) among
        // the unanswered candidates, after the one given (-1: before the first).
        var event = Int(next[head])
        var unansweredAfter: Int?
        /// `unansweredCandidates` of the current configuration, once asked.
        var candidates: [Int]?
        var steps = 0

        /// Places `operation` unless it cannot take effect now or leads to an explored configuration.
        func place(_ operation: Int) -> Bool {
            let candidate = operations[operation]
            guard let after = candidate.apply(to: value),
                obligation == Self.none || (candidate.reads && candidate.apply(to: obligation) == nil)
            else { return false }
            let nextObligation = candidate.isAnswered ? Self.none : value
            let (word, bit) = (slot[operation] >> 6, UInt64(1) << UInt64(slot[operation] & 63))
            if candidate.isAnswered { placedAnswered.insert(slot[operation]) } else { placedUnanswered[word] |= bit }
            let key = MemoKey(answered: placedAnswered.snapshot, value: after, obligation: nextObligation)
            if let explored = seen[key], explored.contains(where: { Self.isSubset($0, of: placedUnanswered) }) {
                if candidate.isAnswered { placedAnswered.remove(slot[operation]) } else { placedUnanswered[word] &= ~bit }
                return false
            }
            seen[key, default: []].append(placedUnanswered)
            stack.append((operation, value, obligation))
            candidates = nil
            value = after
            obligation = nextObligation
            if candidate.isAnswered {
                lift(operation)
                answeredLeft -= 1
            } else {
                placedOfGroup[group[operation]] += 1
            }
            if stack.count > best.count {
                best.removeSubrange(shared...)
                best.append(contentsOf: stack[shared...].lazy.map(\.operation))
                shared = stack.count
                bestValue = value
                blocker = nil
            }
            return true
        }

        while answeredLeft > 0 {
            steps += 1
            if steps > budget { return .outOfBudget(steps: budget) }
            if let after = unansweredAfter {
                if candidates == nil { candidates = unansweredCandidates(value: value, placedOfGroup: placedOfGroup) }
                if let operation = candidates!.first(where: { $0 > after }) {
                    if place(operation) {
                        unansweredAfter = nil
                        event = Int(next[head])
                    } else {
                        unansweredAfter = operation
                    }
                    continue
                }
                // Nothing can be placed here: undo the last choice.
                guard let (operation, valueBefore, obligationBefore) = stack.popLast() else {
                    return .violation(prefix: best, value: bestValue, blocker: blocker, steps: steps)
                }
                shared = min(shared, stack.count)
                candidates = nil
                value = valueBefore
                obligation = obligationBefore
                if operations[operation].isAnswered {
                    placedAnswered.remove(slot[operation])
                    unlift(operation)
                    answeredLeft += 1
                    unansweredAfter = nil
                    event = Int(next[operation])
                } else {
                    placedUnanswered[slot[operation] >> 6] &= ~(UInt64(1) << UInt64(slot[operation] & 63))
                    placedOfGroup[group[operation]] -= 1
                    unansweredAfter = operation
                }
            } else if event >= 0 && event < n {
                if place(event) {
                    event = Int(next[head])
                } else {
                    event = Int(next[event])
                }
            } else {
                // A return: the operation must be placed already. Try unanswered ones, then backtrack.
                if blocker == nil && event >= n && stack.count == best.count && shared == best.count {
                    blocker = event - n
                }
                unansweredAfter = -1
            }
        }
        return .linearizable(steps: steps)
    }

    /// The unanswered operations worth placing now, in index order: the first unplaced one of a
    /// group, invoked before the first return event, writing a value that an operation that
    /// could come next needs (and changing the register).
    private func unansweredCandidates(value: Int32, placedOfGroup: [Int]) -> [Int] {
        if groups.isEmpty { return [] }
        // The operations that could come next: answered calls before the first return, and the
        // unanswered group heads invoked before it.
        var window: [Int] = []
        var event = Int(next[head])
        while event >= 0 && event < operations.count {
            window.append(event)
            event = Int(next[event])
        }
        guard event >= 0 else { return [] }
        let deadline = operations[event - operations.count].complete!
        func firstUnplaced(_ group: Int) -> Int? {
            let placed = placedOfGroup[group]
            guard placed < groups[group].count else { return nil }
            let operation = groups[group][placed]
            return operations[operation].invoke <= deadline ? operation : nil
        }
        for group in readingGroups {
            if let operation = firstUnplaced(group) { window.append(operation) }
        }

        var needed: Set<Int32> = []
        var anything = false
        for operation in window where operations[operation].apply(to: value) == nil {
            if let value = operations[operation].needed {
                needed.insert(value)
            } else if case .mismatch = operations[operation].step {
                // It fails because the register holds the value it expected: any other will do.
                anything = true
            }
        }
        let useful = anything ? Array(groups.indices) : needed.flatMap { groupsWriting[$0] ?? [] }
        return useful.compactMap { group in
            firstUnplaced(group).flatMap { operations[$0].apply(to: value) == nil ? nil : $0 }
        }.sorted()
    }

    private static func isSubset(_ a: [UInt64], of b: [UInt64]) -> Bool {
        for index in a.indices where a[index] & ~b[index] != 0 { return false }
        return true
    }

    /// No obligation: register values are never negative.
    private static let none: Int32 = -1

    /// Unlinks an answered operation's call and return events.
    private mutating func lift(_ operation: Int) {
        unlink(operation)
        unlink(operations.count + operation)
    }

    /// Relinks what `lift` unlinked; valid because the search undoes lifts in reverse order.
    private mutating func unlift(_ operation: Int) {
        relink(operations.count + operation)
        relink(operation)
    }

    private mutating func unlink(_ event: Int) {
        let before = Int(prev[event])
        let after = Int(next[event])
        next[before] = Int32(after)
        if after >= 0 { prev[after] = Int32(before) }
    }

    private mutating func relink(_ event: Int) {
        let before = Int(prev[event])
        let after = Int(next[event])
        next[before] = Int32(event)
        if after >= 0 { prev[after] = Int32(event) }
    }
}

/// The part of a configuration the search memoises exactly: the answered operations placed,
/// the register value and the pending obligation (see `RegisterSearch`). The unanswered
/// operations placed are compared by inclusion instead.
struct MemoKey: Hashable {
    var answered: LinearizedSet.Snapshot
    var value: Int32
    var obligation: Int32

    func hash(into hasher: inout Hasher) {
        // The set's hash is already a good 64-bit hash; feeding one word keeps lookups cheap.
        hasher.combine(
            answered.hash ^ mix(UInt64(UInt32(bitPattern: value)) | UInt64(UInt32(bitPattern: obligation)) << 32))
    }
}
