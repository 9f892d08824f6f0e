import RaftChaos
import Testing

/// The linearizability checker on small hand-written histories: each rule of the register
/// model, concurrency, the meaning of failed and unknown outcomes, per-key judgement and its
/// diagnostics, and the step budget.
@Suite struct LinearizabilityCheckerTests {
    let checker = LinearizabilityChecker()

    func verdict(_ build: (inout HistoryBuilder) -> Void) -> Verdict {
        var builder = HistoryBuilder()
        build(&builder)
        return checker.check(builder.history)
    }

    func isLinearizable(_ build: (inout HistoryBuilder) -> Void) -> Bool {
        verdict(build) == .linearizable
    }

    func isNotLinearizable(_ build: (inout HistoryBuilder) -> Void) -> Bool {
        if case .notLinearizable = verdict(build) { return true }
        return false
    }

    // MARK: Sequential histories

    @Test func anEmptyHistoryIsLinearizable() {
        #expect(checker.check(KVHistory()) == .linearizable)
    }

    @Test func aSequentialHistoryThatFollowsTheRegisterIsLinearizable() {
        #expect(isLinearizable { h in
            h.get("x", 0...1, nil)
            h.put("x", "1", 2...3)
            h.get("x", 4...5, "1")
            h.put("x", "2", 6...7)
            h.get("x", 8...9, "2")
            h.delete("x", 10...11)
            h.get("x", 12...13, nil)
        })
    }

    @Test func aSequentialReadOfAnOverwrittenValueIsNotLinearizable() {
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...1)
            h.put("x", "2", 2...3)
            h.get("x", 4...5, "1")
        })
    }

    // MARK: Concurrency

    @Test func concurrentWritesTakeEffectInEitherOrderButInOneOrderForEveryReader() {
        func history(_ first: String, _ second: String) -> (inout HistoryBuilder) -> Void {
            { h in
                h.put("x", "1", 0...10, client: 0)
                h.put("x", "2", 0...10, client: 1)
                h.get("x", 11...12, first, client: 0)
                h.get("x", 13...14, second, client: 1)
            }
        }
        #expect(isLinearizable(history("1", "1")))
        #expect(isLinearizable(history("2", "2")))
        // Both writes completed before either read: the reads must agree.
        #expect(isNotLinearizable(history("1", "2")))
        #expect(isNotLinearizable(history("2", "1")))
    }

    @Test func aReadConcurrentWithAWriteSeesTheOldOrTheNewValue() {
        for seen in ["1", "2"] {
            #expect(isLinearizable { h in
                h.put("x", "1", 0...5, client: 0)
                h.put("x", "2", 10...20, client: 0)
                h.get("x", 12...18, seen, client: 1)
            })
        }
    }

    @Test func onceAReaderSawTheNewValueALaterReaderCannotSeeTheOldOne() {
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...5, client: 0)
            h.put("x", "2", 10...30, client: 0)
            h.get("x", 11...13, "2", client: 1)
            h.get("x", 15...17, "1", client: 2)
        })
        // Overlapping reads may see the values in either order.
        #expect(isLinearizable { h in
            h.put("x", "1", 0...5, client: 0)
            h.put("x", "2", 10...30, client: 0)
            h.get("x", 11...16, "2", client: 1)
            h.get("x", 15...17, "1", client: 2)
        })
    }

    @Test func operationsThatTouchAtOneInstantCountAsConcurrent() {
        // The read returns at the instant the write is invoked: the clock cannot order them.
        #expect(isLinearizable { h in
            h.get("x", 0...10, "1", client: 0)
            h.put("x", "1", 10...20, client: 1)
        })
    }

    // MARK: Anomalies

    @Test func aStaleReadAfterACompletedWriteIsNotLinearizable() throws {
        var h = HistoryBuilder()
        h.put("x", "1", 0...10)
        let overwrite = h.put("x", "2", 20...30)
        let stale = h.get("x", 40...50, "1", client: 1)
        let verdict = checker.check(h.history)
        let anomaly = try #require(verdict.anomalies.first)
        #expect(verdict.anomalies.count == 1)
        #expect(anomaly.key == "x")
        #expect(anomaly.operations == [0, overwrite, stale])
        #expect(anomaly.longestPrefix == [0, overwrite])
        #expect(anomaly.valueAfterPrefix == "2")
        #expect(anomaly.blockingOperation == stale)
        #expect(anomaly.explanation.contains("get x → 1"))
        #expect(anomaly.explanation.contains("\"2\""))
    }

    @Test func readingAValueNeverWrittenIsNotLinearizable() throws {
        var h = HistoryBuilder()
        h.put("x", "1", 0...10)
        let phantom = h.get("x", 5...15, "7", client: 1)
        let anomaly = try #require(checker.check(h.history).anomalies.first)
        #expect(anomaly.blockingOperation == phantom)
    }

    @Test func aLostAcknowledgedWriteIsNotLinearizable() {
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.get("x", 20...30, nil, client: 1)
        })
        // Lost after being read once: the value cannot disappear either.
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.get("x", 20...30, "1", client: 1)
            h.get("x", 40...50, nil, client: 1)
        })
    }

    @Test func aReadBeforeAnyWriteCannotSeeTheWrite() {
        #expect(isNotLinearizable { h in
            h.get("x", 0...5, "1", client: 1)
            h.put("x", "1", 10...20)
        })
    }

    // MARK: Failed and unknown outcomes

    @Test func anUnknownWriteMayBecomeVisibleLongAfterTheClientGaveUp() {
        #expect(isLinearizable { h in
            h.put("x", "1", 0...10, .unknown)
            h.get("x", 20...30, nil, client: 1)
            h.get("x", 100...110, "1", client: 1)
        })
        #expect(isLinearizable { h in
            h.pending(.put(key: "x", value: "1"), at: 0)
            h.get("x", 20...30, nil, client: 1)
            h.get("x", 100...110, "1", client: 1)
        })
    }

    @Test func anUnknownWriteMayNeverBecomeVisible() {
        #expect(isLinearizable { h in
            h.put("x", "1", 0...10, .unknown)
            h.get("x", 20...30, nil, client: 1)
            h.put("x", "2", 40...50, client: 1)
            h.get("x", 60...70, "2", client: 1)
        })
    }

    @Test func anUnknownWriteCannotTakeEffectBeforeItWasInvoked() {
        #expect(isNotLinearizable { h in
            h.get("x", 0...10, "1", client: 1)
            h.put("x", "1", 20...30, .unknown)
        })
    }

    @Test func anUnknownWriteTakesEffectOnceSoItsValueCannotComeBack() {
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10, .unknown)
            h.get("x", 20...30, "1", client: 1)
            h.put("x", "2", 40...50, client: 1)
            h.get("x", 60...70, "1", client: 1)
        })
    }

    @Test func aFailedWriteWasNotAppliedSoItsValueCannotBeObserved() {
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10, .failed)
            h.get("x", 20...30, "1", client: 1)
        })
        #expect(isLinearizable { h in
            h.put("x", "1", 0...10, .failed)
            h.get("x", 20...30, nil, client: 1)
        })
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.delete("x", 20...30, .failed)
            h.get("x", 40...50, nil, client: 1)
        })
    }

    @Test func anUnknownReadTellsNothing() {
        #expect(isLinearizable { h in
            h.put("x", "1", 0...10)
            h.add(.get(key: "x"), 20...30, .unknown, client: 1)
            h.pending(.get(key: "x"), at: 40, client: 2)
        })
    }

    @Test func anUnknownWriteCanExplainAFailedCas() {
        // The cas found something other than 1: only the unanswered put of 2 can explain it.
        #expect(isLinearizable { h in
            h.put("x", "1", 0...10)
            h.put("x", "2", 20...30, .unknown)
            h.cas("x", "1", "3", 40...50, .casFailed, client: 1)
            h.get("x", 60...70, "2", client: 1)
        })
        // ... and once it took effect, 1 cannot come back.
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.put("x", "2", 20...30, .unknown)
            h.cas("x", "1", "3", 40...50, .casFailed, client: 1)
            h.get("x", 60...70, "1", client: 1)
        })
    }

    // MARK: Compare-and-swap and delete

    @Test func casSucceedsExactlyWhenTheKeyHoldsTheExpectedValue() {
        #expect(isLinearizable { h in
            h.put("x", "1", 0...10)
            h.cas("x", "1", "2", 20...30, .ok)
            h.get("x", 40...50, "2")
        })
        #expect(isNotLinearizable { h in
            h.put("x", "3", 0...10)
            h.cas("x", "1", "2", 20...30, .ok)
        })
        // A successful cas changes the value.
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.cas("x", "1", "2", 20...30, .ok)
            h.get("x", 40...50, "1")
        })
    }

    @Test func casFailsExactlyWhenTheKeyHoldsAnotherValue() {
        #expect(isLinearizable { h in
            h.put("x", "3", 0...10)
            h.cas("x", "1", "2", 20...30, .casFailed)
            h.get("x", 40...50, "3")
        })
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.cas("x", "1", "2", 20...30, .casFailed)
        })
        // A failed cas changes nothing.
        #expect(isNotLinearizable { h in
            h.put("x", "3", 0...10)
            h.cas("x", "1", "2", 20...30, .casFailed)
            h.get("x", 40...50, "2")
        })
    }

    @Test func casExpectingNothingRequiresTheKeyToBeAbsent() {
        #expect(isLinearizable { h in
            h.cas("x", nil, "1", 0...10, .ok)
            h.cas("x", nil, "2", 20...30, .casFailed)
            h.delete("x", 40...50)
            h.cas("x", nil, "3", 60...70, .ok)
            h.get("x", 80...90, "3")
        })
        #expect(isNotLinearizable { h in
            h.cas("x", nil, "1", 0...10, .casFailed)
        })
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.cas("x", nil, "2", 20...30, .ok)
        })
    }

    @Test func anUnknownCasMayHaveSucceededOrNot() {
        for seen in ["1", "2"] {
            #expect(isLinearizable { h in
                h.put("x", "1", 0...10)
                h.cas("x", "1", "2", 20...30, .unknown)
                h.get("x", 40...50, seen, client: 1)
            })
        }
        // It could only succeed on 1: with the key at 3 it cannot produce 2.
        #expect(isNotLinearizable { h in
            h.put("x", "3", 0...10)
            h.cas("x", "1", "2", 20...30, .unknown)
            h.get("x", 40...50, "2", client: 1)
        })
        #expect(isLinearizable { h in
            h.pending(.cas(key: "x", expected: nil, new: "1"), at: 0)
            h.get("x", 40...50, "1", client: 1)
        })
    }

    @Test func deleteMakesTheKeyAbsentEvenIfItWasAbsent() {
        #expect(isLinearizable { h in
            h.delete("x", 0...10)
            h.put("x", "1", 20...30)
            h.delete("x", 40...50)
            h.get("x", 60...70, nil)
        })
        #expect(isNotLinearizable { h in
            h.put("x", "1", 0...10)
            h.delete("x", 20...30)
            h.get("x", 40...50, "1")
        })
    }

    // MARK: Keys, malformed histories, the budget

    @Test func onlyTheKeysWithoutALinearizationAreReported() throws {
        var h = HistoryBuilder()
        for (index, key) in ["a", "b", "c", "d"].enumerated() {
            let t = UInt64(index)
            h.put(key, "1", (0 + t)...(10 + t), client: index)
            h.put(key, "2", (20 + t)...(30 + t), client: index)
            // b and d read a stale value.
            h.get(key, (40 + t)...(50 + t), key == "b" || key == "d" ? "1" : "2", client: index)
        }
        let verdict = checker.check(h.history)
        #expect(verdict.anomalies.map(\.key) == ["b", "d"])
        let b = try #require(verdict.anomalies.first)
        #expect(b.operations == [3, 4, 5])
        #expect(b.blockingOperation == 5)
    }

    @Test func aMalformedHistoryIsUnknownAndSaysWhy() {
        var h = HistoryBuilder()
        h.add(.get(key: "x"), 0...10, .ok)
        h.put("x", "1", 20...30, .value("1"))
        guard case .unknown(let reason) = checker.check(h.history) else {
            Issue.record("expected an unknown verdict")
            return
        }
        #expect(reason.contains("op 0"))
        #expect(reason.contains("op 1"))
    }

    @Test func theStepBudgetEndsASearchWithAnUnknownVerdict() {
        var h = HistoryBuilder()
        // Ten concurrent writes and a read that only the first can explain, if it came last:
        // the search tries many orders before that one.
        for client in 0..<10 { h.put("x", "\(client)", 0...100, client: client) }
        h.get("x", 200...210, "0", client: 0)
        h.put("y", "1", 0...10)
        h.get("y", 20...30, "2")
        let small = LinearizabilityChecker(stepBudget: 100)
        #expect(LinearizabilityChecker().check(h.history).anomalies.map(\.key) == ["y"])
        // A key found bad condemns the history even if another key is undecided.
        #expect(small.check(h.history).anomalies.map(\.key) == ["y"])

        h.operations.removeLast(2)
        #expect(LinearizabilityChecker().check(h.history) == .linearizable)
        guard case .unknown(let reason) = small.check(h.history) else {
            Issue.record("expected an unknown verdict")
            return
        }
        #expect(reason.contains("key \"x\""))
    }
}
