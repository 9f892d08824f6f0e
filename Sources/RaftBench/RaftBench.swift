import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftClient
import RaftTLS

/// `raft-bench`: a load generator for the client port of swift-raft (proto/kv.proto), which can drive
/// etcd's v3 JSON gateway the same way so one tool measures both systems (issue 7).
@main
struct RaftBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-bench",
        abstract: "Durable-write and linearizable-read throughput and latency of swift-raft or etcd.",
        discussion: """
            Runs --clients workers, each with its own connection (and, for swift-raft, its own \
            client id and write sequence) and --pipeline requests in flight, for --duration \
            seconds or --count operations after --warmup seconds. Prints a progress line every \
            second on runs longer than 3 s (stderr), then ops/s and p50/p99/p999 latency in \
            microseconds, and one machine-readable line starting with RESULT. Workers run on \
            the load generator's event loops: each answer issues the next request on the same \
            thread, for both systems alike. With --cacert every connection speaks TLS (swift-raft's \
            client port; HTTPS to etcd's gateway), presenting --cert/--key when given; a TLS \
            failure with any endpoint ends the run with one line naming it and the reason.
            """)

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case swiftRaft = "swift-raft"
        case etcd
    }

    enum ReadFrom: String, ExpressibleByArgument, CaseIterable {
        case all
        case leader
    }

    enum EtcdRouting: String, ExpressibleByArgument, CaseIterable {
        /// Every client talks to the etcd leader (found with /v3/maintenance/status).
        case leader
        /// Client i talks to endpoint i mod n.
        case roundRobin = "round-robin"
    }

    @Option(help: "Comma-separated host:port list (swift-raft client ports or etcd client URLs).")
    var endpoints: String = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

    @Option(help: "System under test: swift-raft or etcd.")
    var target: Target = .swiftRaft

    @Option(help: "Concurrent clients (one connection each).")
    var clients: Int = 1

    @Option(help: "Bytes per value.")
    var valueSize: Int = 256

    @Option(help: "Number of distinct keys (chosen uniformly at random).")
    var keys: Int = 1000

    @Flag(help: "Write the keys in order (key i for the i-th operation, modulo --keys) instead of at random: with --count equal to --keys, every key once (to fill a cluster with state).")
    var sequentialKeys = false

    @Option(help: "Seconds to measure (after the warmup); ignored with --count.")
    var duration: Double = 10

    @Option(help: "Measure this many operations instead of a duration.")
    var count: Int?

    @Option(help: "Fraction of operations that are linearizable reads (0...1); the rest are puts.")
    var readRatio: Double = 0

    @Option(help: "Requests in flight per client (1 = one at a time).")
    var pipeline: Int = 1

    @Flag(help: "swift-raft only: drive each client through KVClient (follows redirects, retries writes exactly once, awaits every answer on a task) instead of a lean connection to the leader on its event loop.")
    var kvclient = false

    @Option(help: "Seconds of load before measuring starts.")
    var warmup: Double = 1

    @Option(help: "Event-loop threads of the load generator.")
    var threads: Int = 2

    @Option(help: "Per-operation timeout in seconds (swift-raft with --kvclient; retries included).")
    var timeout: Int64 = 10

    @Option(help: "swift-raft only: where linearizable reads go: all (client i reads from endpoint i mod n; every member serves them) or leader.")
    var readFrom: ReadFrom = .leader

    @Option(help: "etcd only: send to the leader, or spread clients round-robin over the endpoints.")
    var etcdRouting: EtcdRouting = .leader

    @Flag(help: "No progress lines.")
    var quiet = false

    @Option(help: "Speak TLS to every endpoint (swift-raft's client port; etcd's client URL, HTTPS), trusting servers whose certificate this CA (PEM) signed.")
    var cacert: String?

    @Option(help: "Client certificate (PEM) for servers that require one; needs --key and --cacert.")
    var cert: String?

    @Option(help: "Private key (PEM) of --cert.")
    var key: String?

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard pipeline >= 1 else { throw ValidationError("--pipeline must be at least 1") }
        guard valueSize >= 0 else { throw ValidationError("--value-size must not be negative") }
        guard keys >= 1 else { throw ValidationError("--keys must be at least 1") }
        guard (0...1).contains(readRatio) else { throw ValidationError("--read-ratio must be within 0...1") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        if let count { guard count >= 1 else { throw ValidationError("--count must be at least 1") } }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard !endpointList.isEmpty else { throw ValidationError("--endpoints is empty") }
        guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key go together") }
        guard cert == nil || cacert != nil else {
            throw ValidationError("--cert needs --cacert (the CA that signed the servers' certificates)")
        }
        if cacert == nil, let https = endpointList.first(where: { $0.hasPrefix("https://") }) {
            throw ValidationError("\(https) is an https URL: give --cacert (and --cert/--key if the server requires a client certificate)")
        }
        if cacert != nil, let http = endpointList.first(where: { $0.hasPrefix("http://") }) {
            throw ValidationError("\(http) is a plaintext URL, but --cacert asks for TLS")
        }
    }

    var endpointList: [String] {
        endpoints.split(separator: ",").map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let tls: TLSEndpoint?
        do {
            // Unreadable or mismatched files throw `TLSSetupError` saying which.
            tls = try cacert.map { try TLSEndpoint.client(trustedCAFile: $0, certificateFile: cert, keyFile: key) }
        } catch {
            printErr("raft-bench: \(error)")
            throw ExitCode.failure
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let sessions: [any BenchSession]
        do {
            if let tls { try await checkTLS(group: group, tls: tls) }
            sessions = try await openSessions(group: group, tls: tls)
        } catch where error is BenchTLSError || error is BenchFailure {
            // One line naming the endpoint and the reason.
            try? await group.shutdownGracefully()
            printErr("raft-bench: \(error)")
            throw ExitCode.failure
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let summary = await LoadRun(
            sessions: sessions, pipeline: pipeline, valueSize: valueSize, keys: keys, sequentialKeys: sequentialKeys,
            readRatio: readRatio,
            warmup: warmup, duration: duration, count: count, progress: !quiet && (count != nil || duration > 3)
        ).run(target: target.rawValue)
        for session in sessions { await session.close() }
        try? await group.shutdownGracefully()
        print(summary.human)
        print(summary.resultLine)
        if summary.ops == 0 { throw ExitCode.failure }
    }

    private func openSessions(group: any EventLoopGroup, tls: TLSEndpoint?) async throws -> [any BenchSession] {
        let list = endpointList
        switch target {
        case .swiftRaft:
            if kvclient {
                let readFrom: KVClient.ReadFrom = self.readFrom == .all ? .all : .leader
                return (0..<clients).map { _ in
                    SwiftRaftSession(endpoints: list, group: group, timeoutSeconds: timeout, readFrom: readFrom, tls: tls)
                }
            }
            // Lean in-order connections straight to the leader, driven on their event loops
            // (as etcd's sessions are).
            let leader = try await PipelinedRaftSession.findLeader(among: list, group: group, tls: tls)
            if !quiet { printErr("raft-bench: swift-raft leader is \(leader)") }
            var sessions: [any BenchSession] = []
            do {
                for i in 0..<clients {
                    let reads = readFrom == .all ? list[i % list.count] : nil
                    sessions.append(try await PipelinedRaftSession.connect(to: leader, readingFrom: reads, group: group, tls: tls))
                }
            } catch {
                for session in sessions { await session.close() }
                throw error
            }
            return sessions
        case .etcd:
            var chosen: [String]
            if etcdRouting == .leader, let leader = try await Self.etcdLeader(among: list, group: group, tls: tls) {
                chosen = [leader]
                if !quiet { printErr("raft-bench: etcd leader is \(leader)") }
            } else {
                chosen = list
            }
            var sessions: [any BenchSession] = []
            do {
                for i in 0..<clients {
                    sessions.append(try await EtcdSession.connect(to: chosen[i % chosen.count], group: group, tls: tls))
                }
            } catch {
                for session in sessions { await session.close() }
                throw error
            }
            return sessions
        }
    }

    /// Before any load: one request over TLS to every endpoint, so that a certificate problem
    /// with any of them ends the run with `BenchTLSError` instead of counting as errors. Under
    /// TLS 1.3 a refused client certificate shows only on the first request, as an alert, and
    /// the server's close can overtake the alert: a connection closed after its handshake and
    /// before any answer is tried three times, then reported as a TLS failure too. An endpoint
    /// that does not answer for another reason (a member that is down) is left to the run.
    private func checkTLS(group: any EventLoopGroup, tls: TLSEndpoint) async throws {
        for endpoint in endpointList {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await probe(endpoint, group: group, tls: tls)
                    break
                } catch let failure as BenchTLSError {
                    throw failure
                } catch let failure as BenchFailure {
                    throw failure
                } catch {
                    if let failure = BenchTLSError(error) { throw failure }
                    guard Self.closedWithoutAnswer(error) else { break }
                    guard attempt < 3 else {
                        throw BenchTLSError(
                            endpoint: endpoint,
                            reason: "the server closed the connection after the handshake without answering "
                                + "(does it require a client certificate? --cert and --key)")
                    }
                    try await Task.sleep(nanoseconds: 50_000_000)
                }
            }
        }
    }

    /// One status request to `endpoint` on a new TLS connection. A server that has not answered
    /// within 2 s (not the protocol of `--target`) has its connection closed, and the probe
    /// throws `BenchFailure` saying so.
    private func probe(_ endpoint: String, group: any EventLoopGroup, tls: TLSEndpoint) async throws {
        let result: Result<Void, any Error>
        let expired: Bool
        switch target {
        case .swiftRaft:
            let client = KVClient(endpoints: [endpoint], group: group, timeout: .seconds(2), tls: tls)
            (result, expired) = await Self.answered(within: 2, closing: { await client.close() }) {
                _ = try await client.status(of: endpoint)
            }
        case .etcd:
            let session = try await EtcdSession.connect(to: endpoint, group: group, tls: tls)
            (result, expired) = await Self.answered(within: 2, closing: { await session.close() }) {
                // etcd closes the connection right after its alert refusing a client
                // certificate; a request already under way then meets a reset, which loses the
                // alert. Give the alert time to arrive first.
                try await Task.sleep(nanoseconds: 100_000_000)
                _ = try await session.status()
            }
        }
        if case .failure = result, expired {
            let expected = target == .etcd ? "an etcd client URL" : "a swift-raft client port"
            throw BenchFailure(description: "no answer from \(endpoint) within 2 s: is it \(expected) (--target)?")
        }
        try result.get()
    }

    /// Runs `body`; if it has not finished after `seconds`, runs `close` (which must make it
    /// finish: a NIO future does not heed task cancellation). Runs `close` in any case at the end.
    /// Returns what `body` did and whether the time ran out.
    private static func answered(
        within seconds: UInt64, closing close: @escaping @Sendable () async -> Void, _ body: () async throws -> Void
    ) async -> (Result<Void, any Error>, expired: Bool) {
        let expired = NIOLockedValueBox(false)
        let watchdog = Task {
            try await Task.sleep(nanoseconds: seconds * 1_000_000_000)
            expired.withLockedValue { $0 = true }
            await close()
        }
        let result = await outcome(body)
        watchdog.cancel()
        await close()
        return (result, expired.withLockedValue { $0 })
    }

    /// Whether `error` says a connection that was open ended before its answer came.
    private static func closedWithoutAnswer(_ error: any Error) -> Bool {
        if let error = error as? KVClientError, case .connectionClosed = error { return true }
        if let error = error as? ChannelError, error == .eof || error == .ioOnClosedChannel { return true }
        return false
    }

    /// The endpoint whose `/v3/maintenance/status` says it is the leader (its member id equals
    /// the leader id), if any answers so. A TLS failure throws `BenchTLSError`.
    static func etcdLeader(among endpoints: [String], group: any EventLoopGroup, tls: TLSEndpoint? = nil) async throws -> String? {
        for endpoint in endpoints {
            let session: EtcdSession
            do {
                session = try await EtcdSession.connect(to: endpoint, group: group, tls: tls)
            } catch let failure as BenchTLSError {
                throw failure
            } catch {
                continue
            }
            let answer = await outcome { try await session.status() }
            await session.close()
            let json: String
            do {
                json = try answer.get()
            } catch let failure as BenchTLSError {
                throw failure
            } catch {
                continue
            }
            if let member = jsonString(json, field: "member_id"), let leader = jsonString(json, field: "leader"), member == leader {
                return endpoint
            }
        }
        return nil
    }

    /// The string value of the first `"field":"value"` in `json` (etcd's gateway quotes uint64s).
    static func jsonString(_ json: String, field: String) -> String? {
        let bytes = Array(json.utf8)
        let needle = Array("\"\(field)\":\"".utf8)
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle) {
            let valueStart = start + needle.count
            guard let end = bytes[valueStart...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            return String(decoding: bytes[valueStart..<end], as: UTF8.self)
        }
        return nil
    }
}

func printErr(_ line: String) {
    var stderr = StandardError()
    print(line, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = writeStandardError(buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

private func writeStandardError(_ pointer: UnsafePointer<UInt8>, _ count: Int) -> Int {
    write(2, pointer, count)
}
