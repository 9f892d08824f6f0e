import Foundation
import RaftChaos
import Testing

/// The HTML timeline: labels, the verdict, the marks on a bad key and its blocking operation,
/// escaping, and that the page stands alone.
@Suite struct HistoryTimelineTests {
    /// Key x reads a stale value (op 2); key y is fine, with an unknown and a failed write.
    static func staleRead() -> (KVHistory, Verdict) {
        var h = HistoryBuilder()
        h.put("x", "1", 0...1_000_000, client: 0)
        h.put("x", "2", 2_000_000...3_000_000, client: 0)
        h.get("x", 4_000_000...5_000_000, "1", client: 1)
        h.put("y", "7", 500_000...1_500_000, .unknown, client: 2)
        h.put("y", "8", 2_000_000...2_500_000, .failed, client: 2)
        h.get("y", 3_000_000...6_000_000, "7", client: 2)
        let history = h.history
        return (history, LinearizabilityChecker().check(history))
    }

    /// The opening tag of operation `id`'s bar.
    func bar(_ id: Int, in html: String) -> Substring? {
        guard let start = html.range(of: "<div id=\"op\(id)\"") else { return nil }
        return html[start.lowerBound...].prefix { $0 != ">" }
    }

    @Test func barsAreLabelledWithCallAndOutcome() {
        var h = HistoryBuilder()
        h.put("k3", "v17", 0...10)
        h.get("k3", 20...30, "v12")
        h.cas("k1", "v2", "v3", 40...50, .casFailed)
        let html = HistoryTimeline.html(history: h.history, verdict: nil)
        #expect(html.contains(">put k3=v17 → ok</div>"))
        #expect(html.contains(">get k3 → v12</div>"))
        #expect(html.contains(">cas k1 v2→v3 → failed</div>"))
        #expect(html.contains("Not checked"))
    }

    @Test func thePageStatesTheVerdictAndMarksTheBadKeyAndTheBlockingOperation() throws {
        let (history, verdict) = Self.staleRead()
        #expect(verdict.anomalies.map(\.key) == ["x"])
        #expect(verdict.anomalies.first?.blockingOperation == 2)
        let html = HistoryTimeline.html(history: history, verdict: verdict, title: "stale read")
        #expect(html.contains("<div class=\"verdict bad\">Not linearizable: key x"))
        #expect(html.contains("href=\"#op2\""))
        let culprit = try #require(bar(2, in: html))
        #expect(culprit.contains("class=\"op bad culprit\""))
        #expect(culprit.contains("could not be linearized after that prefix"))
        // The rest of x is outlined and numbered in the prefix; y is left alone.
        #expect(try #require(bar(0, in: html)).contains("class=\"op bad\""))
        #expect(try #require(bar(1, in: html)).contains("linearized #2"))
        #expect(!(try #require(bar(5, in: html)).contains("bad")))
        #expect(html.contains("<option value=\"bad\">"))
    }

    @Test func unknownOutcomesAreHatchedToTheEndAndFailedOnesFaded() throws {
        let (history, verdict) = Self.staleRead()
        let html = HistoryTimeline.html(history: history, verdict: verdict)
        let unknown = try #require(bar(3, in: html))
        #expect(unknown.contains("class=\"op unknown\""))
        #expect(unknown.contains("may take effect any time after its invoke"))
        #expect(unknown.contains("invoked 0.500 ms, gave up 1.500 ms (took 1.000 ms)"))
        #expect(html.contains("<div class=\"tail\" data-key="))
        #expect(try #require(bar(4, in: html)).contains("class=\"op failed\""))
    }

    @Test func aLinearizableHistorySaysSo() throws {
        var h = HistoryBuilder()
        h.put("x", "1", 0...10)
        h.get("x", 20...30, "1")
        let html = HistoryTimeline.html(history: h.history, verdict: LinearizabilityChecker().check(h.history))
        #expect(html.contains("<div class=\"verdict ok\">Linearizable</div>"))
        #expect(try #require(bar(0, in: html)).contains("class=\"op\""))
        #expect(try #require(bar(1, in: html)).contains("class=\"op\""))
    }

    @Test func everyUserStringIsEscaped() {
        var h = HistoryBuilder()
        let key = #"<k&"'>"#
        h.put(key, "<script>alert(1)</script>", 0...10)
        h.get(key, 20...30, "<img src=x>")
        let history = h.history
        let verdict = LinearizabilityChecker().check(history)
        let html = HistoryTimeline.html(history: history, verdict: verdict, title: "<title>")
        #expect(!html.contains("<script>alert"))
        #expect(!html.contains("<img"))
        #expect(!html.contains(key))
        #expect(html.contains("put &lt;k&amp;&quot;&#39;&gt;=&lt;script&gt;alert(1)&lt;/script&gt; → ok"))
        #expect(html.contains("<h1>&lt;title&gt;</h1>"))
        // The anomaly's explanation quotes the key and values too.
        #expect(html.contains("key &lt;k&amp;&quot;&#39;&gt;"))
    }

    @Test func thePageNeedsNothingFromElsewhere() {
        let (history, verdict) = Self.staleRead()
        let html = HistoryTimeline.html(history: history, verdict: verdict)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("http:"))
        #expect(!html.contains("https:"))
        #expect(!html.contains("src="))
        #expect(!html.contains("<link"))
    }

    @Test func writeSavesThePage() throws {
        let (history, verdict) = Self.staleRead()
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("raft-chaos-timeline-\(UInt64.random(in: 0...UInt64.max)).html").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try HistoryTimeline.write(history: history, verdict: verdict, title: "saved", to: path)
        let saved = try String(contentsOfFile: path, encoding: .utf8)
        #expect(saved == HistoryTimeline.html(history: history, verdict: verdict, title: "saved"))
    }

    @Test func aLargeHistoryRendersEveryOperation() {
        let history = SimulatedRun(operations: 2_000).history(seed: 3)
        let html = HistoryTimeline.html(history: history, verdict: LinearizabilityChecker().check(history))
        #expect(html.components(separatedBy: "<div id=\"op").count == 2_001)
        #expect(html.contains("<div class=\"verdict ok\">Linearizable</div>"))
    }
}
