import Foundation
import RaftCore
import RaftZlib

enum TestData {
    /// `count` incompressible bytes.
    static func random(count: Int, seed: UInt64 = 1) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { raw.storeBytes(of: generator.next(), toByteOffset: i * 8, as: UInt64.self) }
            for i in (words * 8)..<raw.count { raw[i] = UInt8(truncatingIfNeeded: generator.next()) }
        }
        return bytes
    }

    /// `count` bytes of KV-like records (`put key-000042 = value-...`), compressible
    /// roughly as a real state-machine snapshot would be.
    static func kvRecords(count: Int, seed: UInt64 = 2) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"].map { Array($0.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 128)
        while bytes.count < count {
            let r = generator.next()
            bytes.append(contentsOf: Array("put key-\(r % 100_000) = ".utf8))
            for i in 0..<Int(3 + (r >> 20) % 5) { bytes.append(contentsOf: words[Int((r >> (i * 3 + 32)) & 7)]) }
            bytes.append(contentsOf: Array(" \(r >> 48)\n".utf8))
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }
}

/// Splits `bytes` into consecutive slices of `size` bytes (the last may be shorter).
func chunks<C: RandomAccessCollection<UInt8>>(of bytes: C, size: Int) -> [C.SubSequence] where C.Index == Int {
    stride(from: bytes.startIndex, to: bytes.endIndex, by: size).map { bytes[$0..<min($0 + size, bytes.endIndex)] }
}

/// Compresses `input` fed `chunkSize` bytes at a time, draining the output after each
/// call the way a snapshot writer would; returns the stream and the largest single
/// growth of the output buffer.
func streamCompress(_ input: [UInt8], chunkSize: Int, level: Int = ZlibDeflater.defaultLevel) throws -> (stream: [UInt8], maxDrain: Int) {
    let deflater = try ZlibDeflater(level: level)
    var stream: [UInt8] = []
    var pending: [UInt8] = []
    var maxDrain = 0
    for chunk in chunks(of: input, size: chunkSize) {
        try deflater.compress(chunk, into: &pending)
        maxDrain = max(maxDrain, pending.count)
        stream.append(contentsOf: pending)
        pending.removeAll(keepingCapacity: true)
    }
    try deflater.finish(into: &pending)
    maxDrain = max(maxDrain, pending.count)
    stream.append(contentsOf: pending)
    return (stream, maxDrain)
}

/// Decompresses `stream` fed `chunkSize` bytes at a time, then calls `finish()`.
func streamDecompress(_ stream: [UInt8], chunkSize: Int, maxOutputBytes: Int = .max) throws(ZlibError) -> [UInt8] {
    let inflater = try ZlibInflater(maxOutputBytes: maxOutputBytes)
    var output: [UInt8] = []
    var offset = 0
    while offset < stream.count {
        let end = min(offset + chunkSize, stream.count)
        try inflater.decompress(stream[offset..<end], into: &output)
        offset = end
    }
    try inflater.finish()
    return output
}

/// Runs `/usr/bin/python3 -c script` with the script's `sys.argv[1]` naming a file that
/// holds `input` and `sys.argv[2]` a file it writes; returns that file's contents.
/// Python's zlib is a zlib build we did not link, so agreement with it is interop.
func python(_ script: String, input: [UInt8] = []) throws -> [UInt8] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("raftzlib-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let inputURL = directory.appendingPathComponent("in")
    let outputURL = directory.appendingPathComponent("out")
    try Data(input).write(to: inputURL)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", script, inputURL.path, outputURL.path]
    let stderr = Pipe()
    process.standardError = stderr
    try process.run()
    let errorOutput = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw PythonFailed(status: process.terminationStatus, stderr: String(decoding: errorOutput, as: UTF8.self))
    }
    return [UInt8](try Data(contentsOf: outputURL))
}

struct PythonFailed: Error, CustomStringConvertible {
    var status: Int32
    var stderr: String
    var description: String { "python3 exited with \(status): \(stderr)" }
}
