import Glibc
import RaftCore
import RaftMessages
import RaftStorage

/// Durable-storage figures for issue 4: appends per second with fsync at several batch sizes
/// beside the disk's raw fdatasync rate, recovery time of a 1,000,000-entry log, and snapshot
/// write/read speed in MB/s of raw state. Everything is written under a fresh temporary
/// directory inside `directory` (which should be on the disk being measured) and removed after.
enum StorageBenchmark {
    static func run(directory: String) -> [String] {
        var lines: [String] = []
        var template = Array((directory + "/raft-storage-bench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            return ["storage: cannot create a temporary directory in \(directory)"]
        }
        let root = String(cString: made)
        defer { removeTree(root) }
        lines.append("storage: data under \(root) (removed afterwards)")
        do {
            // The shared disk's fsync latency drifts: measure in interleaved rounds, report medians.
            let configs = [64, 1024].flatMap { size in [1, 16, 256].map { (size, $0) } }
            var rawRates: [Double] = []
            var batchRates = Array(repeating: [Double](), count: configs.count)
            for round in 0..<3 {
                rawRates.append(try rawFsyncRate(root + "/raw"))
                for (i, (size, batch)) in configs.enumerated() {
                    batchRates[i].append(
                        try appendRate(root + "/append-\(size)-\(batch)-\(round)", entrySize: size, batch: batch))
                }
            }
            let raw = median(rawRates)
            lines.append(
                "storage: raw write(64 B)+fdatasync: \(fmt(raw, 0))/s (\(fmt(1000 / raw, 2)) ms each; rounds: "
                    + rawRates.map { fmt($0, 0) }.joined(separator: ", ") + ")")
            for (i, (size, batch)) in configs.enumerated() {
                let batchesPerSecond = median(batchRates[i])
                let entriesPerSecond = batchesPerSecond * Double(batch)
                lines.append(
                    "storage: append \(size) B entries, batch \(batch), fsync each: \(fmt(entriesPerSecond, 0)) entries/s, "
                        + "\(fmt(batchesPerSecond, 0)) fsyncs/s (\(fmt(batchesPerSecond / raw, 2)) x raw), "
                        + "\(fmt(entriesPerSecond * Double(size) / 1e6, 2)) MB/s")
            }
            lines.append(try recovery(root + "/recovery", entries: 1_000_000))
            for (kind, level) in [("kv-like", 1), ("random", 1), ("random", 0)] {
                lines += try snapshotSpeed(root + "/snap-\(kind)-\(level)", rawMiB: 256, random: kind == "random", level: level)
            }
        } catch {
            lines.append("storage: benchmark failed: \(error)")
        }
        return lines
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    /// write(64 bytes) + fdatasync in a loop on one file, for about one second.
    static func rawFsyncRate(_ path: String) throws -> Double {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("open \(path): errno \(errno)") }
        defer {
            close(fd)
            unlink(path)
        }
        let payload = [UInt8](repeating: 0x61, count: 64)
        let clock = ContinuousClock()
        let start = clock.now
        var count = 0
        while count < 20_000 && clock.now - start < .seconds(1) {
            let written = payload.withUnsafeBytes { write(fd, $0.baseAddress, 64) }
            guard written == 64, fdatasync(fd) == 0 else { throw BenchError("write/fdatasync: errno \(errno)") }
            count += 1
        }
        return Double(count) / seconds(clock.now - start)
    }

    /// `persist(sync: true)` of `batch` entries at a time, for about one second; batches per second.
    static func appendRate(_ path: String, entrySize: Int, batch: Int) throws -> Double {
        let storage = try DiskStorage(directory: path)
        defer { try? storage.close() }
        let data = [UInt8](repeating: 0x5a, count: entrySize)
        var next: UInt64 = 1
        let clock = ContinuousClock()
        let start = clock.now
        var batches = 0
        while batches < 100_000 && clock.now - start < .seconds(1) {
            let entries = (0..<UInt64(batch)).map { LogEntry(index: next + $0, term: 1, data: data) }
            try storage.persist(hardState: HardState(term: 1, vote: 1, commit: next), entries: entries, snapshot: nil, sync: true)
            next += UInt64(batch)
            batches += 1
        }
        return Double(batches) / seconds(clock.now - start)
    }

    /// Writes `entries` 64-byte entries (synced once at the end), then times a cold-ish reopen.
    static func recovery(_ path: String, entries count: Int) throws -> String {
        let data = [UInt8](repeating: 0x42, count: 64)
        do {
            let storage = try DiskStorage(directory: path)
            var next: UInt64 = 1
            while next <= UInt64(count) {
                let n = min(1000, UInt64(count) - next + 1)
                let entries = (0..<n).map { LogEntry(index: next + $0, term: 1, data: data) }
                try storage.persist(hardState: HardState(term: 1, vote: 1, commit: next), entries: entries, snapshot: nil, sync: false)
                next += n
            }
            try storage.close()
        }
        let clock = ContinuousClock()
        let start = clock.now
        let storage = try DiskStorage(directory: path)
        let elapsed = seconds(clock.now - start)
        let report = storage.recoveryReport
        let last = try storage.lastIndex()
        try storage.close()
        return "storage: recovery of \(last) entries (64 B, \(report.segments) segments, \(report.records) records): "
            + "\(fmt(elapsed, 3)) s (goal < 2 s)"
    }

    /// Streams `rawMiB` MiB of raw state into a snapshot (fsynced) and back.
    static func snapshotSpeed(_ path: String, rawMiB: Int, random: Bool, level: Int) throws -> [String] {
        _ = mkdir(path, 0o755)
        let chunks = (0..<8).map { makeChunk(seed: UInt64($0 + 1), size: 1 << 20, random: random) }
        let clock = ContinuousClock()
        var start = clock.now
        let writer = try SnapshotWriter(
            directory: path, metadata: SnapshotMetadata(index: 1, term: 1, configuration: Configuration(voterIDs: [1, 2, 3])), compressionLevel: level)
        for i in 0..<rawMiB { try writer.write(chunks[i % chunks.count]) }
        let compressSeconds = seconds(clock.now - start)
        let info = try writer.finish()
        let writeSeconds = seconds(clock.now - start)

        start = clock.now
        let reader = try SnapshotReader(path: info.path)
        var total = 0
        while let chunk = try reader.nextRawChunk() { total += chunk.count }
        let readSeconds = seconds(clock.now - start)
        guard total == rawMiB << 20 else { throw BenchError("read back \(total) bytes") }
        let rawMB = Double(rawMiB << 20) / 1e6
        let kind = (random ? "random (incompressible)" : "kv-like") + ", zlib level \(level)"
        return [
            "storage: snapshot \(kind) \(rawMiB) MiB raw -> \(fmt(Double(info.compressedSize) / 1048576, 1)) MiB "
                + "(ratio \(fmt(Double(info.compressedSize) / Double(rawMiB << 20), 2))): "
                + "write \(fmt(rawMB / writeSeconds, 0)) MB/s (compress+write \(fmt(rawMB / compressSeconds, 0)) MB/s, "
                + "then fsync+rename \(fmt(writeSeconds - compressSeconds, 2)) s), "
                + "read \(fmt(rawMB / readSeconds, 0)) MB/s of raw state (goal >= 100)"
        ]
    }

    /// 1 MiB of key-value-like records (`key-<n>=<value>\n`, values from a small alphabet with
    /// repeats), or of random bytes.
    static func makeChunk(seed: UInt64, size: Int, random: Bool) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 128)
        if random {
            while bytes.count < size { withUnsafeBytes(of: next()) { bytes.append(contentsOf: $0) } }
        } else {
            var key = seed << 32
            while bytes.count < size {
                key += 1 + next() % 3
                bytes.append(contentsOf: Array("user:\(key)=".utf8))
                let length = 16 + Int(next() % 48)
                let word = next()
                for i in 0..<length { bytes.append(UInt8(97 + (word >> UInt64((i % 12) * 5)) % 16)) }
                bytes.append(10)
            }
        }
        return Array(bytes.prefix(size))
    }

    /// `value` with `decimals` digits after the point (no Foundation here).
    static func fmt(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        let sign = value < 0 && scaled > 0 ? "-" : ""
        guard decimals > 0 else { return sign + "\(whole)" }
        let digits = String(fraction)
        return sign + "\(whole)." + String(repeating: "0", count: decimals - digits.count) + digits
    }

    /// `rm -r` without Foundation.
    static func removeTree(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                removeTree(path + "/" + name)
            }
            closedir(dir)
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    struct BenchError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
