/// Latencies of completed operations in microseconds, summarised by sorted-array percentiles.
struct LatencyStats: Sendable {
    private(set) var samples: [UInt32] = []
    private(set) var errors = 0

    mutating func record(microseconds: UInt64) {
        samples.append(UInt32(clamping: microseconds))
    }

    mutating func recordError() { errors += 1 }

    mutating func merge(_ other: LatencyStats) {
        samples += other.samples
        errors += other.errors
    }

    /// Percentile `p` (0...1) of `sorted` by the nearest-rank method; 0 when empty.
    static func percentile(_ sorted: [UInt32], _ p: Double) -> UInt32 {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// The summary of one run.
struct BenchSummary: Sendable {
    var target: String
    var clients: Int
    var pipeline: Int
    var readRatio: Double
    var valueSize: Int
    var ops: Int
    var errors: Int
    var seconds: Double
    var p50: UInt32
    var p99: UInt32
    var p999: UInt32
    var max: UInt32
    var mean: Double
    /// The longest time no operation completed, and when it ended (seconds into the measured
    /// window).
    var longestGapMicroseconds: UInt64 = 0
    var longestGapEndedAtSeconds: Double = 0

    init(target: String, clients: Int, pipeline: Int, readRatio: Double, valueSize: Int, stats: LatencyStats, seconds: Double) {
        let sorted = stats.samples.sorted()
        self.target = target
        self.clients = clients
        self.pipeline = pipeline
        self.readRatio = readRatio
        self.valueSize = valueSize
        self.ops = sorted.count
        self.errors = stats.errors
        self.seconds = seconds
        self.p50 = LatencyStats.percentile(sorted, 0.5)
        self.p99 = LatencyStats.percentile(sorted, 0.99)
        self.p999 = LatencyStats.percentile(sorted, 0.999)
        self.max = sorted.last ?? 0
        self.mean = sorted.isEmpty ? 0 : Double(sorted.reduce(UInt64(0)) { $0 + UInt64($1) }) / Double(sorted.count)
    }

    var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }

    var human: String {
        """
        target \(target): \(clients) client(s) x pipeline \(pipeline), read ratio \(formatted(readRatio)), \(valueSize)-byte values
          \(ops) ops in \(formatted(seconds)) s = \(Int(opsPerSecond.rounded())) ops/s, \(errors) error(s)
          latency us: p50 \(p50)  p99 \(p99)  p999 \(p999)  max \(max)  mean \(Int(mean.rounded()))
          longest gap between completions: \(longestGapMicroseconds / 1000) ms, ending \(formatted(longestGapEndedAtSeconds)) s in
        """
    }

    var resultLine: String {
        "RESULT target=\(target) clients=\(clients) pipeline=\(pipeline) read_ratio=\(formatted(readRatio)) value_size=\(valueSize) "
            + "ops=\(ops) seconds=\(formatted(seconds)) ops_per_s=\(Int(opsPerSecond.rounded())) "
            + "p50_us=\(p50) p99_us=\(p99) p999_us=\(p999) max_us=\(max) mean_us=\(Int(mean.rounded())) "
            + "max_gap_us=\(longestGapMicroseconds) max_gap_at_s=\(formatted(longestGapEndedAtSeconds)) errors=\(errors)"
    }

    private func formatted(_ x: Double) -> String {
        let scaled = (x * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
    }
}
