import Glibc
import RaftCore
import RaftKV
import RaftMessages
import RaftStorage

/// Key-value snapshot figures for issue 14: how fast a store of `pairs` × `valueBytes` is written
/// to a snapshot file and rebuilt from one as the node does it, and each step of the rebuild alone
/// (read and inflate; parse and insert), in MB of raw state per second. The file is written
/// under a temporary directory in `directory`, removed afterwards.
enum KVSnapshotBenchmark {
    static func run(directory: String, pairs: Int, valueBytes: Int) throws -> [String] {
        let clock = ContinuousClock()
        let store = KVStore()
        var value = [UInt8](repeating: 0, count: valueBytes)
        // Letters in a fixed scramble: like raft-bench's values, the same for every key.
        for i in value.indices { value[i] = UInt8(ascii: "a") + UInt8((i &* 7919 &+ 13) % 26) }
        for i in 0..<pairs {
            // A few bytes differ per key, as they would in real state.
            withUnsafeBytes(of: UInt64(i).littleEndian) { bytes in
                for (j, byte) in bytes.enumerated() { value[(j * 131) % valueBytes] = byte }
            }
            let key = Array("bench-\(String(repeating: "0", count: max(0, 8 - String(i).count)))\(i)".utf8)
            let request = ClientRequest(requestID: 0, clientID: 1, sequence: UInt64(i + 1), operation: .put(key: key, value: value))
            store.apply(LogEntry(index: UInt64(i + 1), term: 1, data: try KVStore.command(for: request)))
        }
        var template = Array((directory + "/raft-kv-bench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw StorageBenchmark.BenchError("cannot create a temporary directory in \(directory)")
        }
        let root = String(cString: made)
        defer { StorageBenchmark.removeTree(root) }

        var start = clock.now
        let writer = try SnapshotWriter(
            directory: root, metadata: SnapshotMetadata(index: 1, term: 1, configuration: Configuration(voterIDs: [1])))
        try store.snapshotView().write { try writer.write($0) }
        let info = try writer.finish()
        let writeSeconds = StorageBenchmark.seconds(clock.now - start)

        // What the node does: read the file in 64 KiB steps, inflate, hand each chunk over.
        start = clock.now
        var reader = try SnapshotReader(path: info.path)
        var chunk: [UInt8] = []
        var chunks: [[UInt8]] = []
        while try reader.nextRawChunk(into: &chunk) { chunks.append(chunk) }
        let inflateSeconds = StorageBenchmark.seconds(clock.now - start)
        let raw = chunks.reduce(0) { $0 + $1.count }

        start = clock.now
        var restorer = store.makeRestorer()
        for chunk in chunks { try chunk.withUnsafeBytes { try restorer.consume($0) } }
        try restorer.finish()
        let parseSeconds = StorageBenchmark.seconds(clock.now - start)
        chunks = []

        start = clock.now
        restorer = store.makeRestorer()
        reader = try SnapshotReader(path: info.path)
        while try reader.nextRawChunk(into: &chunk) { try chunk.withUnsafeBytes { try restorer.consume($0) } }
        try restorer.finish()
        let rebuildSeconds = StorageBenchmark.seconds(clock.now - start)
        store.restore(restorer, index: 1)
        guard store.count == pairs else { throw StorageBenchmark.BenchError("rebuilt \(store.count) of \(pairs) pairs") }

        let mb = Double(raw) / 1e6
        func rate(_ seconds: Double) -> String { "\(StorageBenchmark.fmt(mb / seconds, 0)) MB/s (\(StorageBenchmark.fmt(seconds, 2)) s)" }
        return [
            "kv: snapshot of \(pairs) pairs x \(valueBytes) B = \(StorageBenchmark.fmt(mb, 0)) MB raw, "
                + "\(StorageBenchmark.fmt(Double(info.compressedSize) / 1e6, 1)) MB compressed",
            "kv: write (encode+compress+fsync) \(rate(writeSeconds))",
            "kv: rebuild from the file \(rate(rebuildSeconds)) (goal >= 150); its steps alone: "
                + "read+inflate \(rate(inflateSeconds)), parse+insert \(rate(parseSeconds))",
        ]
    }
}
