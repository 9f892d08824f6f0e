import Foundation

/// Runs the tools of a protobuf implementation nobody here wrote: Debian's
/// `protoc` and Google's Python runtime (`python3-protobuf`).
enum ForeignRuntime {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let protoDir = root.appendingPathComponent("proto").path

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `executable` with `stdin`, through temporary files (no pipe can fill).
    static func run(_ executable: String, _ arguments: [String], stdin: Data = Data()) throws -> Data {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("raft-interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in"), output = dir.appendingPathComponent("out"),
            errors = dir.appendingPathComponent("err")
        try stdin.write(to: input)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: input)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw Failure(
                description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(message)")
        }
        return try Data(contentsOf: output)
    }

    static func protocEncode(_ type: String, text: String) throws -> [UInt8] {
        let proto = type.hasPrefix("raft.kv.") ? "kv.proto" : "raft.proto"
        return [UInt8](try run("/usr/bin/protoc", ["-I", protoDir, "--encode=\(type)", proto], stdin: Data(text.utf8)))
    }

    static func protocDecode(_ type: String, bytes: [UInt8]) throws -> String {
        let proto = type.hasPrefix("raft.kv.") ? "kv.proto" : "raft.proto"
        let out = try run("/usr/bin/protoc", ["-I", protoDir, "--decode=\(type)", proto], stdin: Data(bytes))
        return String(decoding: out, as: UTF8.self)
    }

    /// Generates Python modules from proto/ into a fresh directory.
    static func pythonModules() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("raft-pb2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        _ = try run("/usr/bin/protoc", ["-I", protoDir, "--python_out=\(dir.path)", "raft.proto", "kv.proto"])
        return dir
    }
}

extension [UInt8] {
    var hex: String { map { String(format: "%02x", $0) }.joined() }

    init?(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self = bytes
    }
}
