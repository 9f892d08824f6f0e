import RaftChaos
import RaftCore

/// Writes histories by hand: each operation with its client, its span in (nominal) nanoseconds
/// and its outcome; ids are given in order from 0.
struct HistoryBuilder {
    var operations: [RecordedOperation] = []

    var history: KVHistory { KVHistory(operations: operations) }

    @discardableResult
    mutating func add(
        _ call: KVCall, _ span: ClosedRange<UInt64>, _ outcome: KVOutcome, client: Int = 0
    ) -> Int {
        operations.append(
            RecordedOperation(
                id: operations.count, client: client, call: call, invoke: span.lowerBound,
                complete: span.upperBound, outcome: outcome))
        return operations.count - 1
    }

    /// An operation whose answer never came before the history ended.
    @discardableResult
    mutating func pending(_ call: KVCall, at invoke: UInt64, client: Int = 0) -> Int {
        operations.append(
            RecordedOperation(id: operations.count, client: client, call: call, invoke: invoke, complete: nil, outcome: .unknown))
        return operations.count - 1
    }

    @discardableResult
    mutating func put(_ key: String, _ value: String, _ span: ClosedRange<UInt64>, _ outcome: KVOutcome = .ok, client: Int = 0) -> Int {
        add(.put(key: key, value: value), span, outcome, client: client)
    }

    @discardableResult
    mutating func get(_ key: String, _ span: ClosedRange<UInt64>, _ value: String?, client: Int = 0) -> Int {
        add(.get(key: key), span, .value(value), client: client)
    }

    @discardableResult
    mutating func delete(_ key: String, _ span: ClosedRange<UInt64>, _ outcome: KVOutcome = .ok, client: Int = 0) -> Int {
        add(.delete(key: key), span, outcome, client: client)
    }

    @discardableResult
    mutating func cas(
        _ key: String, _ expected: String?, _ new: String, _ span: ClosedRange<UInt64>, _ outcome: KVOutcome,
        client: Int = 0
    ) -> Int {
        add(.cas(key: key, expected: expected, new: new), span, outcome, client: client)
    }
}

/// A history recorded from a real sequential key-value store: each client issues operations
/// one after another, each operation takes effect at a random instant inside its span (so the
/// history is linearizable by construction), and the outcomes are what the store answered.
/// Some operations fail (never applied) and some lose their answer (applied at a random time,
/// possibly after the client gave up, or never). Every written value is unique.
struct SimulatedRun {
    var clients = 10
    var keys = 10
    var operations = 20_000
    var unknownRate = 0.02
    var failedRate = 0.02
    /// Longest operation and longest pause between a client's operations, in nanoseconds.
    var maxDuration: UInt64 = 50_000
    var maxPause: UInt64 = 20_000

    func history(seed: UInt64) -> KVHistory {
        var random = SplitMix64(seed: seed)
        var clientTime = Array(repeating: UInt64(0), count: clients)
        var lastWritten: [String: String] = [:]
        var drafts: [(operation: RecordedOperation, effect: UInt64?)] = []
        for id in 0..<operations {
            let client = Int.random(in: 0..<clients, using: &random)
            let key = "k\(Int.random(in: 0..<keys, using: &random))"
            let invoke = clientTime[client] + UInt64.random(in: 0...maxPause, using: &random)
            let complete = invoke + UInt64.random(in: 1...maxDuration, using: &random)
            clientTime[client] = complete
            let value = "v\(id)"
            let call: KVCall
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<40:
                call = .put(key: key, value: value)
                lastWritten[key] = value
            case 40..<80:
                call = .get(key: key)
            case 80..<85:
                call = .delete(key: key)
            default:
                // Mostly the value the key probably holds, so that both cas outcomes are common.
                let expected = Bool.random(using: &random) ? lastWritten[key] : nil
                call = .cas(key: key, expected: expected, new: value)
                lastWritten[key] = value
            }
            var outcome = KVOutcome.ok
            var effect: UInt64? = UInt64.random(in: invoke...complete, using: &random)
            let fate = Double.random(in: 0..<1, using: &random)
            if fate < failedRate {
                outcome = .failed
                effect = nil
            } else if fate < failedRate + unknownRate {
                outcome = .unknown
                // Half never applied; the others applied maybe long after the client gave up.
                effect = Bool.random(using: &random)
                    ? nil : invoke + UInt64.random(in: 0...(20 * maxDuration), using: &random)
            }
            drafts.append(
                (RecordedOperation(id: id, client: client, call: call, invoke: invoke, complete: complete, outcome: outcome), effect))
        }

        var store: [String: String] = [:]
        let applied = drafts.indices.filter { drafts[$0].effect != nil }.sorted { drafts[$0].effect! < drafts[$1].effect! }
        for index in applied {
            let operation = drafts[index].operation
            var answer: KVOutcome
            switch operation.call {
            case .put(let key, let value):
                store[key] = value
                answer = .ok
            case .get(let key):
                answer = .value(store[key])
            case .delete(let key):
                store[key] = nil
                answer = .ok
            case .cas(let key, let expected, let new):
                if store[key] == expected {
                    store[key] = new
                    answer = .ok
                } else {
                    answer = .casFailed
                }
            }
            if operation.outcome != .unknown { drafts[index].operation.outcome = answer }
        }
        return KVHistory(operations: drafts.map(\.operation))
    }
}
