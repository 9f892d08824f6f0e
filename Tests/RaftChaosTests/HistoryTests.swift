import Foundation
import RaftChaos
import Synchronization
import Testing

/// Histories as the fault-injection suite records them: the recorder shared by concurrent
/// clients, the labels, validation, and saving a history to check it again later.
@Suite struct HistoryTests {
    /// Every kind of call and outcome, answered or not.
    static let sample: KVHistory = {
        var h = HistoryBuilder()
        h.put("k3", "v17", 0...10)
        h.get("k3", 5...15, "v17", client: 1)
        h.get("k3", 20...30, nil, client: 1)
        h.delete("k3", 12...18, .failed)
        h.cas("k1", "v2", "v3", 40...50, .casFailed)
        h.cas("k1", nil, "v1", 60...70, .ok)
        h.add(.get(key: "k1"), 80...90, .unknown, client: 2)
        h.pending(.cas(key: "k1", expected: "v1", new: "v4"), at: 95, client: 3)
        return h.history
    }()

    @Test func operationsDescribeThemselvesWithCallAndOutcome() {
        #expect(Self.sample.operations.map(\.description) == [
            "put k3=v17 → ok",
            "get k3 → v17",
            "get k3 → not found",
            "delete k3 → error (not applied)",
            "cas k1 v2→v3 → failed",
            "cas k1 ∅→v1 → ok",
            "get k1 → unknown",
            "cas k1 v1→v4 → unknown",
        ])
    }

    @Test func keysAndEndSpanTheWholeHistory() {
        #expect(Self.sample.keys == ["k1", "k3"])
        #expect(Self.sample.end == 95)
        #expect(KVHistory().end == 0)
    }

    @Test func aJSONRoundTripKeepsEveryField() throws {
        let decoded = try KVHistory(jsonData: Self.sample.jsonData())
        #expect(decoded == Self.sample)
    }

    @Test func savedJSONSpellsOutAbsentValues() throws {
        let json = String(decoding: try Self.sample.jsonData(), as: UTF8.self)
        // "Expected absent" and "not found" are values, not missing fields.
        #expect(json.contains(#"{"expected":null,"f":"cas","key":"k1","new":"v1"}"#))
        #expect(json.contains(#"{"type":"value","value":null}"#))
        #expect(json.contains(#"{"type":"casFailed"}"#))
    }

    @Test func aHistorySavedToAFileIsJudgedTheSameWhenLoaded() throws {
        var h = HistoryBuilder()
        h.put("x", "1", 0...10)
        h.put("x", "2", 20...30)
        h.get("x", 40...50, "1")
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("raft-chaos-history-\(UInt64.random(in: 0...UInt64.max)).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try h.history.write(toFile: path)
        let loaded = try KVHistory(contentsOfFile: path)
        #expect(loaded == h.history)
        #expect(LinearizabilityChecker().check(loaded) == LinearizabilityChecker().check(h.history))
        #expect(LinearizabilityChecker().check(loaded).anomalies.map(\.key) == ["x"])
    }

    @Test func decodingRefusesAnUnknownCall() {
        let json = #"{"operations":[{"id":0,"client":0,"invoke":0,"complete":1,"#
            + #""call":{"f":"append","key":"x"},"outcome":{"type":"ok"}}]}"#
        #expect(throws: DecodingError.self) { try KVHistory(jsonData: Data(json.utf8)) }
    }

    @Test func validationNamesEveryProblem() {
        #expect(Self.sample.validate().isEmpty)
        let bad = KVHistory(operations: [
            RecordedOperation(id: 1, client: 0, call: .get(key: "x"), invoke: 10, complete: 5, outcome: .value(nil)),
            RecordedOperation(id: 1, client: 0, call: .put(key: "x", value: "1"), invoke: 10, complete: nil, outcome: .ok),
            RecordedOperation(id: 2, client: 0, call: .delete(key: "x"), invoke: 10, complete: 20, outcome: .casFailed),
        ])
        #expect(bad.validate() == [
            "op 1: completes at 5 ns, before its invoke at 10 ns",
            "op 1: duplicate id",
            "op 1: no completion time but outcome ok",
            "op 2: delete x cannot answer casFailed",
        ])
    }

    @Test func anOperationNotYetCompletedIsRecordedAsUnknown() {
        let recorder = HistoryRecorder()
        let done = recorder.invoke(client: 1, call: .put(key: "x", value: "1"))
        recorder.complete(id: done, outcome: .ok)
        let open = recorder.invoke(client: 2, call: .get(key: "x"))
        let history = recorder.history()
        #expect(history.operations.map(\.id) == [done, open])
        #expect(history.operations[0].outcome == .ok)
        #expect(history.operations[0].complete! >= history.operations[0].invoke)
        #expect(history.operations[1].complete == nil)
        #expect(history.operations[1].outcome == .unknown)
        #expect(history.validate().isEmpty)
    }

    final class Store: Sendable {
        let values = Mutex<[String: String]>([:])
    }

    /// Clients in concurrent tasks run against a store that is linearizable by construction (a
    /// dictionary under a lock): the recorded history must be judged linearizable.
    @Test func theRecorderCanBeSharedByConcurrentClients() async {
        let recorder = HistoryRecorder()
        let store = Store()
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for n in 0..<200 {
                        let key = "k\(n % 3)"
                        let call: KVCall =
                            switch n % 4 {
                            case 0: .put(key: key, value: "c\(client)-\(n)")
                            case 1: .get(key: key)
                            case 2: .cas(key: key, expected: "c\(client)-\(n - 2)", new: "c\(client)-\(n)")
                            default: .delete(key: key)
                            }
                        let id = recorder.invoke(client: client, call: call)
                        let outcome: KVOutcome = store.values.withLock { store in
                            switch call {
                            case .put(let key, let value):
                                store[key] = value
                                return .ok
                            case .get(let key):
                                return .value(store[key])
                            case .delete(let key):
                                store[key] = nil
                                return .ok
                            case .cas(let key, let expected, let new):
                                guard store[key] == expected else { return .casFailed }
                                store[key] = new
                                return .ok
                            }
                        }
                        recorder.complete(id: id, outcome: outcome)
                    }
                }
            }
        }
        let history = recorder.history()
        #expect(history.operations.count == 1600)
        #expect(Set(history.operations.map(\.id)).count == 1600)
        #expect(history.validate().isEmpty)
        for client in 0..<8 {
            let mine = history.operations.filter { $0.client == client }
            #expect(zip(mine, mine.dropFirst()).allSatisfy { $0.complete! <= $1.invoke }, "client \(client) is sequential")
        }
        #expect(LinearizabilityChecker().check(history) == .linearizable)
    }
}
