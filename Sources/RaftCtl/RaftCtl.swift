import ArgumentParser
import NIOPosix
import RaftClient
import RaftMessages
import RaftTLS
#if canImport(Glibc)
    import Glibc
#endif

/// `raftctl`: a command-line client of the swift-raft key-value store.
@main
struct RaftCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftctl",
        abstract: "Command-line client of a swift-raft key-value cluster.",
        discussion: "Follows NOT_LEADER redirects. Exits non-zero with a one-line error on failure.",
        subcommands: [Put.self, Get.self, Delete.self, CompareAndSwap.self, Status.self, MemberCommand.self, MoveLeader.self])

    /// Options every subcommand takes.
    struct Common: ParsableArguments {
        @Option(help: "Client addresses of the members, host:port,host:port (or RAFTCTL_ENDPOINTS).")
        var endpoints: String = ProcessEnvironment.get("RAFTCTL_ENDPOINTS") ?? "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

        @Option(help: "Give up after this many seconds.")
        var timeout: Double = 10

        @Option(name: .customLong("cacert"), help: "Speak TLS, trusting servers whose certificate this CA (PEM) signed (or RAFTCTL_CACERT).")
        var cacertFlag: String?

        @Option(name: .customLong("cert"), help: "Client certificate (PEM) for members that require one (or RAFTCTL_CERT); needs --key.")
        var certFlag: String?

        @Option(name: .customLong("key"), help: "Private key (PEM) of --cert (or RAFTCTL_KEY).")
        var keyFlag: String?

        var cacert: String? { cacertFlag ?? ProcessEnvironment.get("RAFTCTL_CACERT") }
        var cert: String? { certFlag ?? ProcessEnvironment.get("RAFTCTL_CERT") }
        var key: String? { keyFlag ?? ProcessEnvironment.get("RAFTCTL_KEY") }

        var endpointList: [String] {
            endpoints.split(separator: ",").map { String($0).trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        }

        func validate() throws {
            guard !endpointList.isEmpty else { throw ValidationError("--endpoints is empty") }
            guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
            guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key go together") }
            guard cert == nil || cacert != nil else {
                throw ValidationError("--cert needs --cacert (the CA that signed the members' certificates)")
            }
        }

        /// TLS from --cacert, --cert and --key; nil (plaintext) without --cacert.
        func tlsEndpoint() throws -> TLSEndpoint? {
            guard let cacert else { return nil }
            do {
                return try TLSEndpoint.client(trustedCAFile: cacert, certificateFile: cert, keyFile: key)
            } catch {
                throw CtlError("\(error)")
            }
        }

        /// Runs `body` with a client, then shuts everything down.
        func withClient<T>(_ body: (KVClient) async throws -> T) async throws -> T {
            let tls = try tlsEndpoint()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let client = KVClient(
                endpoints: endpointList, group: group, timeout: .milliseconds(Int64(timeout * 1000)), tls: tls)
            do {
                let result = try await body(client)
                await client.close()
                try? await group.shutdownGracefully()
                return result
            } catch {
                await client.close()
                try? await group.shutdownGracefully()
                throw error
            }
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set KEY to VALUE.")
        @OptionGroup var common: Common
        @Argument var key: String
        @Argument var value: String

        func run() async throws {
            let response = try await common.withClient { try await $0.put(Array(key.utf8), Array(value.utf8)) }
            try expect(response, .ok)
            print("OK (index \(response.index))")
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the value of KEY (linearizable read, answered by the first endpoint that can: any member serves it).")
        @OptionGroup var common: Common
        @Flag(help: "Read the first endpoint's own state now, without asking the leader (may be stale).")
        var serializable = false
        @Argument var key: String

        func run() async throws {
            let endpoint = common.endpointList[0]
            let response = try await common.withClient { client in
                serializable ? try await client.localGet(Array(key.utf8), from: endpoint) : try await client.get(Array(key.utf8))
            }
            if response.status == .notFound { throw CtlError("key not found: \(key)") }
            try expect(response, .ok)
            print(String(decoding: response.value, as: UTF8.self))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove KEY (succeeds if absent).")
        @OptionGroup var common: Common
        @Argument var key: String

        func run() async throws {
            let response = try await common.withClient { try await $0.delete(Array(key.utf8)) }
            try expect(response, .ok)
            print("OK (index \(response.index))")
        }
    }

    struct CompareAndSwap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cas",
            abstract: "Set KEY to NEW only if it holds OLD (or, with --absent, only if it does not exist).",
            discussion: "raftctl cas KEY OLD NEW    |    raftctl cas --absent KEY NEW")
        @OptionGroup var common: Common
        @Flag(help: "Succeed only if KEY does not exist; then give KEY NEW only.")
        var absent = false
        @Argument var key: String
        @Argument(help: "OLD NEW, or NEW with --absent.") var values: [String]

        func validate() throws {
            guard values.count == (absent ? 1 : 2) else {
                throw ValidationError(absent ? "cas --absent takes KEY NEW" : "cas takes KEY OLD NEW")
            }
        }

        func run() async throws {
            let expected: [UInt8]? = absent ? nil : Array(values[0].utf8)
            let new = Array(values[values.count - 1].utf8)
            let response = try await common.withClient {
                try await $0.compareAndSwap(Array(key.utf8), expected: expected, value: new)
            }
            if response.status == .casFailed {
                throw CtlError(absent ? "compare failed: \(key) exists" : "compare failed: \(key) does not hold the expected value")
            }
            try expect(response, .ok)
            print("OK (index \(response.index))")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every member's id, role, term, leader and indices.")
        @OptionGroup var common: Common

        func run() async throws {
            let endpoints = common.endpointList
            let rows: [(String, Result<NodeStatus, any Error>)] = try await common.withClient { client in
                var rows: [(String, Result<NodeStatus, any Error>)] = []
                for endpoint in endpoints {
                    do {
                        rows.append((endpoint, .success(try await client.status(of: endpoint))))
                    } catch {
                        rows.append((endpoint, .failure(error)))
                    }
                }
                return rows
            }
            var table = [["ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST", "SNAPSHOT"]]
            var unreachable: [String] = []
            for (endpoint, result) in rows {
                switch result {
                case .success(let s):
                    table.append([
                        endpoint, "\(s.id)", s.role, "\(s.term)", "\(s.leaderID)", "\(s.commitIndex)", "\(s.appliedIndex)",
                        "\(s.lastLogIndex)", "\(s.snapshotIndex)",
                    ])
                case .failure(let error):
                    table.append([endpoint, "-", "unreachable", "", "", "", "", "", ""])
                    unreachable.append("\(endpoint) (\(Self.shortReason(error)))")
                }
            }
            let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max()! }
            for row in table {
                print(zip(row, widths).map { $0.padding(toLength: $1) }.joined(separator: "  ").trimmingTrailingSpaces)
            }
            if !unreachable.isEmpty { throw CtlError("unreachable: \(unreachable.joined(separator: ", "))") }
        }

        /// "connection refused" rather than NIO's nested description.
        static func shortReason(_ error: any Error) -> String {
            let text = "\(error)"
            for known in ["Connection refused", "timed out", "No route to host", "Connection reset"] where text.contains(known) {
                return known.lowercased()
            }
            return String(text.prefix(80))
        }
    }

    /// A bad flag or a failure: one line on stderr, non-zero exit (64 for usage errors).
    static func main() async {
        do {
            var command = try parseAsRoot(globalOptionsAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let message = (error as? CtlError)?.description ?? "\(error)"
            let line = error is CtlError || error is KVClientError
                ? message : (self.message(for: error).split(separator: "\n").first.map(String.init) ?? message)
            writeStderr("raftctl: \(line)\n")
            Glibc.exit(error is CtlError || error is KVClientError ? 1 : (code.rawValue == 0 ? 1 : code.rawValue))
        }
    }
}

/// `raftctl --endpoints E status` is the documented form (README), but options live on the
/// subcommands: move the common options (`--endpoints`, `--timeout`, `--cacert`, `--cert`,
/// `--key`) given before the subcommand to just after it (after `member add`, `member list`, ...
/// for the member commands).
func globalOptionsAfterSubcommand(_ arguments: [String]) -> [String] {
    let global = ["--endpoints", "--timeout", "--cacert", "--cert", "--key"]
    var leading: [String] = []
    var rest = arguments[...]
    while let first = rest.first, first.hasPrefix("--") {
        let takesValue = global.contains(first)
        let inline = global.contains { first.hasPrefix($0 + "=") }
        guard takesValue || inline else { break }
        leading.append(first)
        rest = rest.dropFirst()
        if takesValue, let value = rest.first {
            leading.append(value)
            rest = rest.dropFirst()
        }
    }
    guard let subcommand = rest.first else { return arguments }
    var command = [subcommand]
    rest = rest.dropFirst()
    if subcommand == "member", let leaf = rest.first, !leaf.hasPrefix("-") {
        command.append(leaf)
        rest = rest.dropFirst()
    }
    return command + leading + rest
}

struct CtlError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Fails unless the cluster answered `wanted`.
func expect(_ response: ClientResponse, _ wanted: KVStatus) throws {
    guard response.status == wanted else {
        throw CtlError("\(response.status)\(response.error.isEmpty ? "" : ": \(response.error)")")
    }
}

func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

enum ProcessEnvironment {
    static func get(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }

    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }

    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
