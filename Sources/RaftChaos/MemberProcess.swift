import Foundation

/// Starting a `raft-node` as tests and the fault suite do: its output appended to a log file
/// (created if missing; a restarted member continues the same log), `environment` added to
/// this process's own.
public enum MemberProcess {
    public static func launch(
        _ executable: URL, arguments: [String], log: URL, environment: [String: String] = [:]
    ) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        try process.run()
        return process
    }
}
