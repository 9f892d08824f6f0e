import NIOConcurrencyHelpers
import Prometheus

#if canImport(Glibc)
    import Glibc
#endif

/// The standard `process_*` metrics, read from /proc at scrape time (Linux).
final class ProcessMetrics: Sendable {
    private let residentMemory: Gauge
    private let cpuSeconds: Counter
    private let openFDs: Gauge
    private let startTime: Gauge
    /// CPU seconds already added to the counter (it can only grow by deltas).
    private let reportedCPU = NIOLockedValueBox(0.0)

    init(registry: PrometheusCollectorRegistry) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "process", metricName: metric, unitName: unit, helpText: help)
        }
        residentMemory = registry.makeGauge(descriptor: name("resident_memory", "bytes", "Resident memory size in bytes."))
        cpuSeconds = registry.makeCounter(descriptor: name("cpu_seconds", "total", "Total user and system CPU time spent in seconds."))
        openFDs = registry.makeGauge(descriptor: name("open", "fds", "Number of open file descriptors."))
        startTime = registry.makeGauge(
            descriptor: name("start_time", "seconds", "Start time of the process since unix epoch in seconds."))
        if let stat = Self.stat() { startTime.set(to: stat.startTime) }
    }

    func refresh() {
        if let stat = Self.stat() {
            residentMemory.set(to: stat.residentBytes)
            let delta = reportedCPU.withLockedValue { reported -> Double in
                let delta = max(0, stat.cpuSeconds - reported)
                reported += delta
                return delta
            }
            if delta > 0 { cpuSeconds.increment(by: delta) }
        }
        openFDs.set(to: Double(Self.countOpenFDs()))
    }

    private struct Stat {
        var cpuSeconds: Double
        var residentBytes: Double
        var startTime: Double
    }

    /// /proc/self/stat fields 14-15 (utime, stime in ticks), 22 (start time in ticks since
    /// boot) and 24 (rss in pages); boot time from /proc/stat.
    private static func stat() -> Stat? {
        guard let text = read("/proc/self/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state).
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
            let start = Double(fields[19]), let rss = Double(fields[21])
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let bootTime =
            read("/proc/stat")?.split(separator: "\n").first { $0.hasPrefix("btime ") }
            .flatMap { Double($0.dropFirst(6)) } ?? 0
        return Stat(cpuSeconds: (utime + stime) / ticks, residentBytes: rss * pageSize, startTime: bootTime + start / ticks)
    }

    private static func countOpenFDs() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { count += 1 }
        }
        return max(0, count - 1)  // the directory stream's own descriptor
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
