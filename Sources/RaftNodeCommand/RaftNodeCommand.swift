import ArgumentParser
import CMemory
import Logging
import RaftStorage
#if canImport(Glibc)
    import Glibc
#endif

/// `raft-node`: one member of a swift-raft cluster serving the key-value store.
@main
struct RaftNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-node",
        abstract: "Run one member of a swift-raft cluster (Raft consensus + replicated key-value store).",
        discussion: """
            Every option can also be set through an environment variable RAFT_<NAME> (for example \
            RAFT_DATA_DIR for --data-dir); a flag on the command line wins. SIGTERM or SIGINT \
            stops accepting work, flushes and exits 0. SIGHUP reloads the TLS certificate files.
            """)

    @Option(help: "This member's id: a positive integer listed in --cluster.")
    var id: UInt64

    @Option(
        help: ArgumentHelp(
            "Peer addresses of the members of a new cluster, this one included: 1=host:port,2=host:port,...",
            discussion: """
                Only a brand-new cluster takes its membership from here (every member is given the same \
                list); afterwards the membership is what the replicated log says. This member's own entry \
                is the address the others dial for it. With --join, naming this member is enough.
                """))
    var cluster: String

    @Flag(help: "Join a running cluster on an empty data directory: wait for the leader to send the log (add the member with 'raftctl member add' first or after).")
    var join = false

    @Option(help: "host:port the peer port listens on, when it differs from this member's --cluster address (NAT, containers).")
    var peerListen: String?

    @Option(help: "Name of the cluster; peers from another cluster are rejected.")
    var clusterID = "swift-raft"

    @Option(help: "host:port of the client (key-value) port.")
    var clientListen = "127.0.0.1:7100"

    @Option(help: "host:port of the Prometheus metrics page (GET /metrics, GET /healthz); none if not given.")
    var metricsListen = ""

    @Option(help: "Client addresses of all members (1=host:port,...), so that followers can redirect clients to the leader.")
    var clientAddresses: String?

    @Option(help: "Directory for the write-ahead log and snapshots (created if missing; locked while running).")
    var dataDir: String

    @Option(help: "Base election timeout in milliseconds; a follower waits a random time in [t, 2t) for a leader.")
    var electionTimeoutMs = 500

    @Option(help: "Heartbeat interval of the leader in milliseconds (must be below the election timeout).")
    var heartbeatMs = 100

    @Option(help: "Take a snapshot every this many applied entries (0: never).")
    var snapshotEntries: UInt64 = 10_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "Peer TLS: this member's certificate (PEM, subject CN member-<id>, SANs for its peer addresses). Peer TLS is mutual: give all three --peer-* files.")
    var peerCertFile: String?

    @Option(help: "Peer TLS: the private key of --peer-cert-file (PEM).")
    var peerKeyFile: String?

    @Option(
        name: .customLong("peer-trusted-ca-file"), help: "Peer TLS: the CA (PEM) every member's certificate must be signed by.")
    var peerTrustedCAFile: String?

    @Option(help: "Client port TLS: the server certificate (PEM).")
    var certFile: String?

    @Option(help: "Client port TLS: the private key of --cert-file (PEM).")
    var keyFile: String?

    @Option(
        name: .customLong("trusted-ca-file"), help: "Client port TLS: require client certificates signed by this CA (PEM).")
    var trustedCAFile: String?

    @Option(help: "Metrics page TLS (HTTPS): the server certificate (PEM).")
    var metricsCertFile: String?

    @Option(help: "Metrics page TLS: the private key of --metrics-cert-file (PEM).")
    var metricsKeyFile: String?

    @Option(help: "A TLS connection whose handshake has not finished after this many milliseconds is closed.")
    var tlsHandshakeTimeoutMs = 5_000

    func validate() throws {
        let members = try parsedCluster()
        guard members.addresses[id] != nil else {
            throw ValidationError("--id \(id) is not a member of --cluster (members: \(members.ids.map(String.init).joined(separator: ", ")))")
        }
        _ = try parsedClientAddresses()
        do {
            _ = try ClusterMap.address(clientListen)
        } catch {
            throw ValidationError("--client-listen: \(error)")
        }
        if let peerListen {
            do {
                _ = try ClusterMap.address(peerListen)
            } catch {
                throw ValidationError("--peer-listen: \(error)")
            }
        }
        if !metricsListen.isEmpty {
            do {
                _ = try ClusterMap.address(metricsListen)
            } catch {
                throw ValidationError("--metrics-listen: \(error)")
            }
        }
        guard heartbeatMs > 0, electionTimeoutMs > heartbeatMs else {
            throw ValidationError("--heartbeat-ms must be positive and below --election-timeout-ms (\(heartbeatMs) vs \(electionTimeoutMs))")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got '\(logLevel)')")
        }
        guard !dataDir.isEmpty else { throw ValidationError("--data-dir must not be empty") }
        try validateTLSFlags()
    }

    /// Which TLS flags go together (README, "Transport security").
    func validateTLSFlags() throws {
        let peer = [peerCertFile, peerKeyFile, peerTrustedCAFile]
        guard peer.allSatisfy({ $0 == nil }) || peer.allSatisfy({ $0 != nil }) else {
            throw ValidationError(
                "peer TLS is mutual: give --peer-cert-file, --peer-key-file and --peer-trusted-ca-file together")
        }
        guard (certFile == nil) == (keyFile == nil) else {
            throw ValidationError("client port TLS needs both --cert-file and --key-file")
        }
        guard trustedCAFile == nil || certFile != nil else {
            throw ValidationError("--trusted-ca-file needs --cert-file and --key-file (the client port must speak TLS to ask for client certificates)")
        }
        guard (metricsCertFile == nil) == (metricsKeyFile == nil) else {
            throw ValidationError("metrics page TLS needs both --metrics-cert-file and --metrics-key-file")
        }
        guard metricsCertFile == nil || !metricsListen.isEmpty else {
            throw ValidationError("--metrics-cert-file needs --metrics-listen")
        }
        guard tlsHandshakeTimeoutMs > 0 else { throw ValidationError("--tls-handshake-timeout-ms must be positive") }
        for (flag, value) in [
            ("--peer-cert-file", peerCertFile), ("--peer-key-file", peerKeyFile),
            ("--peer-trusted-ca-file", peerTrustedCAFile), ("--cert-file", certFile), ("--key-file", keyFile),
            ("--trusted-ca-file", trustedCAFile), ("--metrics-cert-file", metricsCertFile),
            ("--metrics-key-file", metricsKeyFile),
        ] {
            if let value, value.isEmpty { throw ValidationError("\(flag) must not be empty") }
        }
    }

    func parsedCluster() throws -> ClusterMap {
        do {
            return try ClusterMap(parsing: cluster)
        } catch {
            throw ValidationError("--cluster: \(error)")
        }
    }

    func parsedClientAddresses() throws -> ClusterMap? {
        guard let clientAddresses else { return nil }
        do {
            return try ClusterMap(parsing: clientAddresses)
        } catch {
            throw ValidationError("--client-addresses: \(error)")
        }
    }

    func run() async throws {
        // SIGHUP reloads the TLS files once the member is up; until then (a long recovery, say)
        // it must not kill the process, which is its default action.
        signal(SIGHUP, SIG_IGN)
        // Before any thread allocates: a state replaced by a snapshot must be reusable by the
        // thread that builds the new one (see raft_use_one_malloc_arena).
        raft_use_one_malloc_arena()
        // Test hooks that slow this member's disk (see `Failpoint`): off unless set.
        if let spec = getenv("RAFT_FAILPOINTS").map({ String(cString: $0) }), !spec.isEmpty {
            do {
                try Failpoint.configure(spec, id: id)
            } catch {
                FileHandleStderr.write("raft-node: RAFT_FAILPOINTS: \(error)\n")
                throw ExitCode(64)
            }
        }
        let level = Logger.Level(rawValue: logLevel)!
        let member = id
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            handler.metadata["node"] = "\(member)"
            return handler
        }
        let service = try NodeService(command: self)
        do {
            try await service.runUntilSignalled()
        } catch {
            // One line on stderr, as for bad flags; the log has the details.
            FileHandleStderr.write("raft-node: \(error)\n")
            throw ExitCode(1)
        }
    }

    /// Parses flags with `RAFT_<NAME>` environment fallbacks; a bad flag prints one line and
    /// exits 64 (EX_USAGE).
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        arguments = withEnvironmentDefaults(arguments)
        let command: RaftNodeCommand
        do {
            command = try parse(arguments)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))  // --help
                Glibc.exit(0)
            }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandleStderr.write("raft-node: \(message)\n")
            Glibc.exit(64)
        }
        do {
            try await command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            FileHandleStderr.write("raft-node: \(error)\n")
            Glibc.exit(1)
        }
        Glibc.exit(0)
    }

    /// Appends `--name value` for every `RAFT_NAME` variable whose flag is not given.
    static func withEnvironmentDefaults(_ arguments: [String]) -> [String] {
        let names = [
            "id", "cluster", "cluster-id", "client-listen", "metrics-listen", "client-addresses", "data-dir", "election-timeout-ms",
            "heartbeat-ms", "snapshot-entries", "log-level", "peer-listen",
            "peer-cert-file", "peer-key-file", "peer-trusted-ca-file", "cert-file", "key-file", "trusted-ca-file",
            "metrics-cert-file", "metrics-key-file", "tls-handshake-timeout-ms",
        ]
        var result = arguments
        func variable(_ name: String) -> String? {
            getenv("RAFT_" + name.uppercased().replacingOccurrences(of: "-", with: "_")).map { String(cString: $0) }
        }
        for name in names {
            let flag = "--\(name)"
            let given = arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
            if !given, let value = variable(name) {
                result += [flag, value]
            }
        }
        // Flags without a value: RAFT_JOIN=1 (or true, yes).
        if !arguments.contains("--join"), let value = variable("join"), ["1", "true", "yes"].contains(value.lowercased()) {
            result.append("--join")
        }
        return result
    }
}

/// stderr without Foundation.
enum FileHandleStderr {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in _ = Glibc.write(2, buffer.baseAddress, buffer.count) }
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
