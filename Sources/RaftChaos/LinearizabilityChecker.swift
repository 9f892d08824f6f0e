/// Decides whether a `KVHistory` is linearizable: whether every operation can be given a single
/// instant between its invoke and its completion such that, taken in the order of those
/// instants, the operations behave like a single sequential key-value store.
///
/// Linearizability is compositional, so each key is judged on its own as a register holding a
/// `String?` (nil: absent), by `RegisterSearch` (Wing & Gong with Lowe's memoisation, like
/// porcupine). Before the search:
///
/// - operations whose outcome is `.failed` are removed, since they had no effect;
/// - `.unknown` operations get no completion: they may take effect at any time after their
///   invoke, or never. A put, delete or cas without an answer takes effect as usual when it is
///   placed; a get without an answer tells nothing and is removed;
/// - an unanswered write whose value nobody could have observed (no get returns it, no cas
///   expects it, no cas failed for want of it) is removed, since having it take effect
///   somewhere can never help a linearization that leaving it out fails;
/// - values no operation reads or expects are all replaced by one stand-in value, since no
///   operation can tell them apart. This merges configurations, and makes unanswered writes of
///   such values interchangeable (like unanswered deletes), so that the search tries only the
///   earliest of them.
///
/// The last two rules, with the search's canonical placement of unanswered operations and its
/// pruning of configurations that placed more of them than one already explored, keep
/// operations without an answer from multiplying the configurations to explore. A key with
/// many operations concurrent with each other can still exhaust the step budget, most likely
/// when it is not linearizable (every configuration before the anomaly must be tried).
public struct LinearizabilityChecker: Sendable {
    /// The most search steps spent on one key before its verdict is "unknown". A step is one
    /// event or candidate visited, a microsecond or two in a debug build; memory grows with the
    /// steps (a hundred bytes each at worst). The default decides the histories of a
    /// fault-injection run (thousands of operations a key, a few at a time) in well under a
    /// second a key, and bounds a pathological key to seconds.
    public var stepBudget: Int

    public init(stepBudget: Int = 5_000_000) {
        self.stepBudget = stepBudget
    }

    /// Judges `history`: linearizable only if every key is; not linearizable if any key is not
    /// (each bad key listed); otherwise unknown, saying why.
    public func check(_ history: KVHistory) -> Verdict {
        let problems = history.validate()
        if !problems.isEmpty {
            let shown = problems.prefix(5).joined(separator: "; ")
            return .unknown("malformed history (\(problems.count) problems): \(shown)")
        }
        var byKey: [String: [RecordedOperation]] = [:]
        for operation in history.operations { byKey[operation.call.key, default: []].append(operation) }

        var anomalies: [KeyAnomaly] = []
        var undecided: [String] = []
        for key in byKey.keys.sorted() {
            let operations = byKey[key]!.sorted { ($0.invoke, $0.id) < ($1.invoke, $1.id) }
            switch checkKey(key, operations) {
            case nil: break
            case .anomaly(let anomaly): anomalies.append(anomaly)
            case .undecided(let reason): undecided.append(reason)
            }
        }
        if !anomalies.isEmpty { return .notLinearizable(anomalies) }
        if !undecided.isEmpty { return .unknown(undecided.joined(separator: "; ")) }
        return .linearizable
    }

    private enum KeyProblem {
        case anomaly(KeyAnomaly)
        case undecided(String)
    }

    /// `operations`: every operation on `key`, in invoke order.
    private func checkKey(_ key: String, _ operations: [RecordedOperation]) -> KeyProblem? {
        let (reduced, origin) = Self.reduce(operations)
        var search = RegisterSearch(operations: reduced, budget: stepBudget)
        switch search.run() {
        case .linearizable:
            return nil
        case .outOfBudget(let steps):
            return .undecided(
                "key \"\(key)\" (\(reduced.count) operations) undecided after \(steps) search steps "
                    + "(the step budget)")
        case .violation(let prefix, let value, let blocker, _):
            let prefixOperations = prefix.map { origin[$0] }
            let valueAfter = Self.replay(prefixOperations)
            return .anomaly(
                KeyAnomaly(
                    key: key, operations: operations.map(\.id), longestPrefix: prefixOperations.map(\.id),
                    valueAfterPrefix: valueAfter, blockingOperation: blocker.map { origin[$0].id },
                    explanation: Self.explain(
                        key: key, count: reduced.count, prefix: prefixOperations, valueAfter: valueAfter,
                        blocking: blocker.map { (origin[$0], reduced[$0]) }, value: value)))
        }
    }

    /// The operations of one key that take part in the search, as register steps, with the
    /// operations they come from.
    private static func reduce(_ operations: [RecordedOperation]) -> ([RegisterOperation], [RecordedOperation]) {
        var values = ValueTable()
        var reduced: [RegisterOperation] = []
        var origin: [RecordedOperation] = []
        for operation in operations {
            guard let step = step(operation, &values) else { continue }
            // An unanswered operation may take effect after the client gave up: no completion.
            let complete = operation.outcome == .unknown ? nil : operation.complete
            reduced.append(RegisterOperation(step: step, invoke: operation.invoke, complete: complete))
            origin.append(operation)
        }
        let use = ValueUse(reduced)
        var kept: [Int] = []
        for index in reduced.indices {
            switch reduced[index].step {
            case .unknownWrite(let new), .unknownSwap(_, let new):
                if !use.helps(new) { continue }
            default: break
            }
            reduced[index].step = reduced[index].step.mapWritten { new in
                new == 0 || use.mentioned.contains(new) ? new : ValueTable.unmentioned
            }
            kept.append(index)
        }
        return (kept.map { reduced[$0] }, kept.map { origin[$0] })
    }

    /// The key's value after `operations`, placed in this order by the search.
    private static func replay(_ operations: [RecordedOperation]) -> String? {
        var value: String?
        for operation in operations {
            switch (operation.call, operation.outcome) {
            case (.put(_, let new), _): value = new
            case (.delete, _): value = nil
            case (.cas(_, _, let new), .ok): value = new
            // Placed only where it takes effect.
            case (.cas(_, let expected, let new), .unknown) where value == expected: value = new
            default: break
            }
        }
        return value
    }

    /// The operation as a register step, or `nil` if it takes no part in the search.
    private static func step(_ operation: RecordedOperation, _ values: inout ValueTable) -> RegisterOperation.Step? {
        switch (operation.call, operation.outcome) {
        case (_, .failed), (.get, .unknown):
            return nil
        case (.put(_, let value), .unknown):
            return .unknownWrite(values.id(value))
        case (.put(_, let value), _):
            return .write(values.id(value))
        case (.delete, .unknown):
            return .unknownWrite(0)
        case (.delete, _):
            return .write(0)
        case (.get, .value(let value)):
            return .read(values.id(value))
        case (.cas(_, let expected, let new), .ok):
            return .swap(expected: values.id(expected), new: values.id(new))
        case (.cas(_, let expected, _), .casFailed):
            return .mismatch(expected: values.id(expected))
        case (.cas(_, let expected, let new), .unknown):
            return .unknownSwap(expected: values.id(expected), new: values.id(new))
        default:
            // `validate()` has refused every other combination.
            return nil
        }
    }

    /// How the operations of one key use register values, to simplify unanswered writes.
    private struct ValueUse {
        /// Values some operation tells apart from others: those read and those a cas expects.
        var mentioned: Set<Int32> = []
        /// Values an answered or unanswered cas expects to find (it needs the register to hold them).
        private var expected: Set<Int32> = []
        /// Values read.
        private var read: Set<Int32> = []
        /// The one value every failed cas expected, if they agree.
        private var failedCasExpected: Int32?
        /// Failed cas operations expected different values.
        private var failedCasDisagree = false

        init(_ operations: [RegisterOperation]) {
            for operation in operations {
                switch operation.step {
                case .read(let value): read.insert(value)
                case .swap(let value, _), .unknownSwap(let value, _): expected.insert(value)
                case .mismatch(let value):
                    mentioned.insert(value)
                    if failedCasExpected == nil || failedCasExpected == value {
                        failedCasExpected = value
                    } else {
                        failedCasDisagree = true
                    }
                case .write, .unknownWrite: break
                }
            }
            mentioned.formUnion(read)
            mentioned.formUnion(expected)
        }

        /// Whether the register holding `value` can let some operation take effect that could
        /// not otherwise: a read of it, a cas expecting it, a failed cas expecting another value.
        func helps(_ value: Int32) -> Bool {
            read.contains(value) || expected.contains(value) || failedCasDisagree
                || (failedCasExpected != nil && failedCasExpected != value)
        }
    }

    private static func explain(
        key: String, count: Int, prefix: [RecordedOperation], valueAfter: String?,
        blocking: (RecordedOperation, RegisterOperation)?, value: Int32
    ) -> String {
        var text = "key \"\(key)\": no linearization of its \(count) operations. "
        if let last = prefix.last {
            text += "The longest linearizable prefix found has \(prefix.count) operations, ending with op \(last.id) "
            text += "(client \(last.client): \(last.description)), after which "
        } else {
            text += "No operation can come first; initially "
        }
        text += valueAfter.map { "the key held \"\($0)\"" } ?? "the key was absent"
        guard let (operation, reduced) = blocking else { return text + "." }
        text += ". Op \(operation.id) (client \(operation.client): \(operation.description)) cannot come next"
        if reduced.apply(to: value) == nil {
            switch operation.outcome {
            case .value: text += ": it read something else"
            case .ok: text += ": the key did not hold the expected value"
            case .casFailed: text += ": the key held the expected value"
            default: break
            }
        } else {
            text += " in any order of the operations concurrent with it"
        }
        return text + "."
    }
}

/// Interns register values for one key: 0 is "absent", strings get 1, 2, ...
private struct ValueTable {
    private var ids: [String: Int32] = [:]

    /// The stand-in for every value that no operation reads or expects: all such values behave
    /// alike, so the search need not tell them apart. Larger than any string's id.
    static let unmentioned = Int32.max

    mutating func id(_ value: String?) -> Int32 {
        guard let value else { return 0 }
        if let id = ids[value] { return id }
        let id = Int32(ids.count + 1)
        ids[value] = id
        return id
    }
}
