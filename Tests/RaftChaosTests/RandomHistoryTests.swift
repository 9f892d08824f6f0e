import RaftChaos
import RaftCore
import Testing

/// The checker on generated histories: large ones recorded from a real sequential store (so
/// linearizable by construction) with and without a planted stale read, and thousands of tiny
/// ones judged against a brute-force enumeration of every order.
@Suite struct RandomHistoryTests {
    /// The size the fault-injection suite produces: must be quick even in a debug build.
    @Test func aLargeHistoryFromARealStoreIsLinearizable() {
        let history = SimulatedRun().history(seed: 1)
        #expect(history.operations.count == 20_000)
        #expect(history.operations.contains { $0.outcome == .unknown })
        #expect(history.operations.contains { $0.outcome == .failed })
        #expect(history.operations.contains { $0.outcome == .casFailed })
        #expect(LinearizabilityChecker().check(history) == .linearizable)
    }

    @Test func aLargeHistoryWithOneStaleReadIsNotLinearizable() throws {
        var history = SimulatedRun().history(seed: 2)
        let stale = try #require(plantStaleRead(in: &history, after: 10_000))
        let verdict = LinearizabilityChecker().check(history)
        let key = history.operations[stale].call.key
        #expect(verdict.anomalies.map(\.key) == [key], "\(verdict)")
        #expect(verdict.anomalies.first?.blockingOperation == stale)
    }

    @Test func busyHistoriesWithManyUnknownOutcomesAreLinearizable() {
        let run = SimulatedRun(
            clients: 6, keys: 2, operations: 300, unknownRate: 0.15, failedRate: 0.05, maxDuration: 50_000,
            maxPause: 5_000)
        for seed in UInt64(100)..<UInt64(150) {
            #expect(LinearizabilityChecker().check(run.history(seed: seed)) == .linearizable, "seed \(seed)")
        }
    }

    /// Few values, so that they repeat, or a new value per write (as the suite writes them),
    /// with many unanswered operations.
    @Test(arguments: [false, true])
    func tinyHistoriesGetTheVerdictOfTryingEveryOrder(uniqueValues: Bool) {
        var random = SplitMix64(seed: uniqueValues ? 8 : 7)
        var counts = (linearizable: 0, not: 0)
        for round in 0..<3000 {
            let history = tinyHistory(&random, uniqueValues: uniqueValues)
            let expected = BruteForce.isLinearizable(history.operations)
            let verdict = LinearizabilityChecker().check(history)
            if expected { counts.linearizable += 1 } else { counts.not += 1 }
            #expect(verdict.isLinearizable == expected, "round \(round): \(history.operations)")
            if !expected { #expect(verdict.anomalies.count == 1, "round \(round)") }
        }
        // Both verdicts are common, or the comparison would prove little.
        #expect(counts.linearizable > 500)
        #expect(counts.not > 500)
    }

    // MARK: Helpers

    /// Makes a read after index `after` return a value overwritten before it was invoked: a
    /// value written by a put that finished before another put on the key began, which
    /// finished before the read began. Values are unique, so nothing can restore it. Returns
    /// the read's index.
    func plantStaleRead(in history: inout KVHistory, after: Int) -> Int? {
        let operations = history.operations
        for read in operations.indices.dropFirst(after) {
            guard case .get(let key) = operations[read].call, case .value = operations[read].outcome else { continue }
            let puts = operations.filter {
                if case .put(key, _) = $0.call, $0.outcome == .ok { true } else { false }
            }
            let invoke = operations[read].invoke
            guard let newer = puts.filter({ $0.complete! < invoke }).max(by: { $0.complete! < $1.complete! }),
                let older = puts.first(where: { $0.complete! < newer.invoke }),
                case .put(_, let staleValue) = older.call
            else { continue }
            history.operations[read].outcome = .value(staleValue)
            return read
        }
        return nil
    }

    /// Up to seven operations on one key, random spans and outcomes. Values are three, or
    /// unique to each write (then reads and cas see one of those written, or none).
    func tinyHistory(_ random: inout SplitMix64, uniqueValues: Bool) -> KVHistory {
        var values: [String?] = uniqueValues ? [nil] : [nil, "a", "b", "c"]
        func value() -> String {
            guard uniqueValues else { return ["a", "b", "c"].randomElement(using: &random)! }
            values.append("v\(values.count)")
            return values.last!!
        }
        var h = HistoryBuilder()
        for _ in 0..<Int.random(in: 1...7, using: &random) {
            let invoke = UInt64.random(in: 0...20, using: &random)
            let span = invoke...(invoke + UInt64.random(in: 0...10, using: &random))
            let roll = Int.random(in: 0..<100, using: &random)
            let (call, outcome): (KVCall, KVOutcome)
            // Unique values leave reads little chance of success: more unanswered writes help.
            let unanswered = uniqueValues ? 35 : 15
            switch Int.random(in: 0..<4, using: &random) {
            case 0:
                call = .put(key: "x", value: value())
                outcome = roll < 85 - unanswered ? .ok : roll < 85 ? .unknown : .failed
            case 1:
                call = .get(key: "x")
                outcome = roll < 85 ? .value(values.randomElement(using: &random)!) : roll < 90 ? .failed : .unknown
            case 2:
                call = .delete(key: "x")
                outcome = roll < 85 - unanswered ? .ok : roll < 85 ? .unknown : .failed
            default:
                let expected = values.randomElement(using: &random)!
                call = .cas(key: "x", expected: expected, new: value())
                outcome =
                    roll < 40 - unanswered / 2 ? .ok : roll < 80 - unanswered ? .casFailed : roll < 80 ? .unknown : .failed
            }
            if outcome == .unknown && Bool.random(using: &random) {
                h.pending(call, at: invoke, client: h.operations.count)
            } else {
                h.add(call, span, outcome, client: h.operations.count)
            }
        }
        return h.history
    }
}

/// Linearizability of one key's operations by trying every order: an independent, obviously
/// correct and exponential restatement of the rules.
enum BruteForce {
    static func isLinearizable(_ operations: [RecordedOperation]) -> Bool {
        let relevant = operations.filter { operation in
            if operation.outcome == .failed { return false }
            if case .get = operation.call, operation.outcome == .unknown { return false }
            return true
        }
        return search(relevant, value: nil)
    }

    private static func search(_ remaining: [RecordedOperation], value: String?) -> Bool {
        let answered = remaining.filter { $0.outcome != .unknown }
        guard let deadline = answered.map({ $0.complete! }).min() else { return true }
        for (index, operation) in remaining.enumerated() {
            var rest = remaining
            rest.remove(at: index)
            if operation.outcome == .unknown && search(rest, value: value) { return true }  // never applied
            // It can go next unless an operation still to place completed before it began.
            guard operation.invoke <= deadline, let after = apply(operation, to: value) else { continue }
            if search(rest, value: after) { return true }
        }
        return false
    }

    /// The value after `operation`, or nil (outer) if it cannot take effect on `value`.
    private static func apply(_ operation: RecordedOperation, to value: String?) -> String?? {
        switch (operation.call, operation.outcome) {
        case (.put(_, let new), _): return .some(new)
        case (.delete, _): return .some(nil)
        case (.get, .value(let read)): return read == value ? .some(value) : nil
        case (.cas(_, let expected, let new), .ok): return expected == value ? .some(new) : nil
        case (.cas(_, let expected, _), .casFailed): return expected != value ? .some(value) : nil
        case (.cas(_, let expected, let new), .unknown): return .some(expected == value ? new : value)
        default: return nil
        }
    }
}
