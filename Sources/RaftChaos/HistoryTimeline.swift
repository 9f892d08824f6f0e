#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Renders a `KVHistory` as a self-contained HTML page, after porcupine's visualisation: one
/// lane per client, each operation a bar from invoke to completion labelled with its call and
/// outcome, the checker's verdict on top. Operations of keys that are not linearizable are
/// outlined, the operation that could not be linearized is red. Unknown outcomes are hatched,
/// with a faint tail to the end of the history (they may have taken effect any time after);
/// failed ones are faded. Hovering a bar shows its id and times; a select shows one key; a
/// slider zooms. No external resources, so the file can be attached to a bug report as is.
public enum HistoryTimeline {
    /// The page. `verdict` is the checker's (nil: not checked).
    public static func html(history: KVHistory, verdict: Verdict?, title: String = "History") -> String {
        Page(history: history, verdict: verdict, title: title).render()
    }

    /// Writes the page to `path`.
    public static func write(
        history: KVHistory, verdict: Verdict?, title: String = "History", to path: String
    ) throws {
        try Data(html(history: history, verdict: verdict, title: title).utf8).write(to: URL(fileURLWithPath: path))
    }

    /// `text` safe inside HTML text and quoted attribute values.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

private struct Page {
    let history: KVHistory
    let verdict: Verdict?
    let title: String
    let end: UInt64
    /// Page pixels per nanosecond at zoom 1 (the whole history about 1,400 px wide).
    let pixelsPerNanosecond: Double
    /// The zoom exponent (zoom = 2^exponent) at which a typical operation is about 100 px wide.
    let readableZoom: Double
    let badKeys: Set<String>
    /// Keys by position in `history.keys`: the select and the bars name keys by position, so
    /// that no key string needs to survive a round trip through the DOM.
    let keyIndex: [String: Int]
    let culprits: Set<Int>
    /// Position of each operation in its key's longest linearizable prefix.
    let prefixPosition: [Int: Int]

    static let rowHeight = 24

    init(history: KVHistory, verdict: Verdict?, title: String) {
        self.history = history
        self.verdict = verdict
        self.title = title
        end = max(history.end, 1)
        pixelsPerNanosecond = 1400 / Double(end)
        let durations = history.operations.compactMap { op in op.complete.map { $0 - op.invoke } }.sorted()
        let typical = durations.isEmpty ? Double(end) : Double(max(durations[durations.count / 2], 1))
        let widthAtZoomOne = typical * pixelsPerNanosecond
        var zoom = 0.0
        while zoom < 20 && widthAtZoomOne * pow2(zoom) < 100 { zoom += 0.5 }
        readableZoom = zoom
        let anomalies = verdict?.anomalies ?? []
        badKeys = Set(anomalies.map(\.key))
        keyIndex = Dictionary(uniqueKeysWithValues: history.keys.enumerated().map { ($1, $0) })
        culprits = Set(anomalies.compactMap(\.blockingOperation))
        var positions: [Int: Int] = [:]
        for anomaly in anomalies {
            for (index, id) in anomaly.longestPrefix.enumerated() { positions[id] = index + 1 }
        }
        prefixPosition = positions
    }

    func render() -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
            <style>\(Self.style)</style></head>
            <body>
            <h1>\(esc(title))</h1>

            """
        html += verdictBanner()
        html += controls()
        html += "<div id=\"timeline\" style=\"--z:1\"><div class=\"inner\" style=\"width:calc(var(--z)*\(px(end))px + 8em)\">\n"
        html += axis()
        let clients = Dictionary(grouping: history.operations, by: \.client)
        for client in clients.keys.sorted() {
            html += lane(client: client, operations: clients[client]!)
        }
        html += "</div></div>\n"
        html += """
            <p class="legend"><span class="op sample">answered</span> <span class="op unknown sample">unknown outcome</span>
            <span class="op failed sample">failed (not applied)</span> <span class="op bad sample">key not linearizable</span>
            <span class="op bad culprit sample">could not be linearized</span>
            — #n: place in the longest linearizable prefix found. \(history.operations.count) operations,
            \(esc(ms(end))) ms.</p>
            <script>\(script)</script>
            </body></html>

            """
        return html
    }

    private func verdictBanner() -> String {
        switch verdict {
        case nil:
            return "<div class=\"verdict unchecked\">Not checked</div>\n"
        case .linearizable:
            return "<div class=\"verdict ok\">Linearizable</div>\n"
        case .unknown(let reason):
            return "<div class=\"verdict unknown\">Unknown: \(esc(reason))</div>\n"
        case .notLinearizable(let anomalies):
            var html = "<div class=\"verdict bad\">Not linearizable: "
            html += anomalies.map { "key " + esc($0.key) }.joined(separator: ", ") + "<ul>"
            for anomaly in anomalies {
                html += "<li>\(esc(anomaly.explanation))"
                if let id = anomaly.blockingOperation { html += " <a href=\"#op\(id)\">show op \(id)</a>" }
                html += "</li>"
            }
            return html + "</ul></div>\n"
        }
    }

    private func controls() -> String {
        var html = "<div class=\"controls\"><label>Key <select id=\"key\"><option value=\"\">all keys</option>"
        if !badKeys.isEmpty { html += "<option value=\"bad\">keys not linearizable</option>" }
        for (index, key) in history.keys.enumerated() {
            let mark = badKeys.contains(key) ? " ✗" : ""
            html += "<option value=\"k\(index)\">\(esc(key))\(mark)</option>"
        }
        html += "</select></label> <label>Zoom <input id=\"zoom\" type=\"range\" min=\"0\" max=\"20\" step=\"0.5\" "
        html += "value=\"\(readableZoom)\"></label></div>\n"
        return html
    }

    /// About ten labelled ticks at round millisecond values.
    private func axis() -> String {
        let spanMs = Double(end) / 1e6
        let rough = spanMs / 10
        var magnitude = 1e-6
        while magnitude * 10 <= rough { magnitude *= 10 }
        let tick = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? magnitude * 10
        var html = "<div class=\"axis\"><div class=\"who\"></div><div class=\"track\">"
        var t = 0.0
        while t <= spanMs {
            html += "<span style=\"left:calc(var(--z)*\(px(UInt64(t * 1e6)))px)\">\(esc(format(t, digits: 3))) ms</span>"
            t += tick
        }
        return html + "</div></div>\n"
    }

    private func lane(client: Int, operations: [RecordedOperation]) -> String {
        // Packs overlapping bars into sub-rows; only unknown outcomes overlap a client's own
        // operations, and their tails do not take room.
        var rowEnds: [UInt64] = []
        var bars = ""
        for operation in operations.sorted(by: { ($0.invoke, $0.id) < ($1.invoke, $1.id) }) {
            let barEnd = operation.complete ?? end
            let row = rowEnds.firstIndex { $0 <= operation.invoke } ?? rowEnds.count
            if row == rowEnds.count { rowEnds.append(barEnd) } else { rowEnds[row] = barEnd }
            bars += bar(operation, row: row, barEnd: barEnd)
        }
        return "<div class=\"lane\"><div class=\"who\">client \(client)</div>"
            + "<div class=\"track\" style=\"height:\(max(rowEnds.count, 1) * Self.rowHeight)px\">\(bars)</div></div>\n"
    }

    private func bar(_ operation: RecordedOperation, row: Int, barEnd: UInt64) -> String {
        var classes = ["op"]
        if operation.outcome == .unknown { classes.append("unknown") }
        if operation.outcome == .failed { classes.append("failed") }
        if badKeys.contains(operation.call.key) { classes.append("bad") }
        if culprits.contains(operation.id) { classes.append("culprit") }
        let position = prefixPosition[operation.id]
        var details = "op \(operation.id) · client \(operation.client)\n\(operation.description)\n"
        details += "invoked \(ms(operation.invoke)) ms"
        if let complete = operation.complete {
            let verb = operation.outcome == .unknown ? "gave up" : "completed"
            details += ", \(verb) \(ms(complete)) ms (took \(ms(complete - operation.invoke)) ms)"
        } else {
            details += ", never completed"
        }
        if let position { details += "\nlinearized #\(position) in the longest linearizable prefix found" }
        if culprits.contains(operation.id) { details += "\ncould not be linearized after that prefix" }
        if operation.outcome == .unknown { details += "\nmay take effect any time after its invoke, or never" }

        let key = "k\(keyIndex[operation.call.key]!)"
        let top = row * Self.rowHeight
        var html = "<div id=\"op\(operation.id)\" class=\"\(classes.joined(separator: " "))\" data-key=\"\(key)\" "
        html += "title=\"\(esc(details))\" "
        html += "style=\"top:\(top)px;left:calc(var(--z)*\(px(operation.invoke))px);"
        html += "width:calc(var(--z)*\(px(barEnd - operation.invoke))px)\">"
        html += (position.map { "#\($0) " } ?? "") + esc(operation.description) + "</div>"
        if operation.outcome == .unknown, barEnd < end {
            let tailClasses = badKeys.contains(operation.call.key) ? "tail bad" : "tail"
            html += "<div class=\"\(tailClasses)\" data-key=\"\(key)\" style=\"top:\(top + Self.rowHeight - 6)px;"
            html += "left:calc(var(--z)*\(px(barEnd))px);width:calc(var(--z)*\(px(end - barEnd))px)\"></div>"
        }
        return html
    }

    private func esc(_ text: String) -> String { HistoryTimeline.escape(text) }

    private func px(_ nanoseconds: UInt64) -> String {
        format(Double(nanoseconds) * pixelsPerNanosecond, digits: 3)
    }

    private func ms(_ nanoseconds: UInt64) -> String {
        format(Double(nanoseconds) / 1e6, digits: 3)
    }

    private static let style = """
        body{font:13px system-ui,sans-serif;margin:1em;color:#222}
        h1{font-size:1.3em;margin:0 0 .5em}
        .verdict{padding:.6em .8em;border-radius:4px;font-weight:600;margin-bottom:.6em}
        .verdict ul{font-weight:400;margin:.4em 0 0;padding-left:1.4em}
        .verdict.ok{background:#dff3e0;color:#1b5e20}.verdict.bad{background:#fde2e1;color:#8e1b14}
        .verdict.unknown{background:#fff3cd;color:#6b4e00}.verdict.unchecked{background:#eee}
        .controls{margin:.4em 0}.controls label{margin-right:1.5em}
        #timeline{overflow-x:auto;border:1px solid #ccc;max-height:80vh;overflow-y:auto}
        .inner{position:relative}
        .lane,.axis{display:flex;border-bottom:1px solid #eee}
        .who{position:sticky;left:0;z-index:3;flex:0 0 7em;background:#fafafa;padding:4px;
          border-right:1px solid #ddd}
        .track{position:relative;flex:1 0 auto;min-height:24px}
        .axis{position:sticky;top:0;z-index:4;background:#fff;height:20px}
        .axis span{position:absolute;top:3px;font-size:11px;color:#666;border-left:1px solid #bbb;
          padding-left:2px;white-space:nowrap}
        .op{position:absolute;height:20px;margin-top:2px;box-sizing:border-box;min-width:3px;overflow:hidden;
          white-space:nowrap;font-size:11px;line-height:18px;padding:0 3px;background:#cfe3fb;
          border:1px solid #6d9fd8;border-radius:3px;z-index:1}
        .op:hover{overflow:visible;z-index:5;background:#fff8c4}
        .op.unknown{background:repeating-linear-gradient(45deg,#e4e4e4 0 4px,#f7f7f7 4px 8px);border-style:dashed}
        .op.failed{opacity:.45;background:#eee;border-color:#aaa}
        .op.bad{border:2px solid #e08a00}
        .op.culprit{background:#e53935;color:#fff;border-color:#8e1b14}
        .tail{position:absolute;height:3px;background:#bbb;opacity:.5;z-index:0}
        .hidden{display:none}
        .legend .op.sample{position:static;display:inline-block;height:auto;margin:0 .3em}
        """

    // Filters by key and zooms; nothing else.
    private let script = """
        const tl=document.getElementById('timeline'),zoom=document.getElementById('zoom'),key=document.getElementById('key');
        function setZoom(){tl.style.setProperty('--z',Math.pow(2,+zoom.value));}
        zoom.addEventListener('input',setZoom);setZoom();
        key.addEventListener('change',()=>{const k=key.value;
          for(const e of document.querySelectorAll('#timeline .op,#timeline .tail')){
            const show=k===''||(k==='bad'?e.classList.contains('bad'):e.dataset.key===k);
            e.classList.toggle('hidden',!show);}});
        const c=document.querySelector('#timeline .culprit');
        if(c)c.scrollIntoView({block:'center',inline:'center'});
        """
}

/// `value` with exactly `digits` decimals, without Foundation's `String(format:)`.
private func format(_ value: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    let negative = scaled < 0
    let magnitude = UInt64(abs(scaled))
    let whole = magnitude / UInt64(scale)
    var fraction = String(magnitude % UInt64(scale))
    fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    return (negative ? "-" : "") + "\(whole)" + (digits > 0 ? "." + fraction : "")
}

/// 2^`exponent` for exponents in steps of 0.5.
private func pow2(_ exponent: Double) -> Double {
    var result = 1.0
    for _ in 0..<Int(exponent) { result *= 2 }
    if exponent - exponent.rounded(.down) >= 0.5 { result *= 2.0.squareRoot() }
    return result
}
