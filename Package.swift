// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-raft",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "RaftWire", targets: ["RaftWire"]),
        .library(name: "RaftStorage", targets: ["RaftStorage"]),
        .library(name: "RaftNode", targets: ["RaftNode"]),
        .library(name: "RaftKV", targets: ["RaftKV"]),
        .library(name: "RaftClient", targets: ["RaftClient"]),
        .library(name: "RaftChaos", targets: ["RaftChaos"]),
        .executable(name: "raft-node", targets: ["RaftNodeCommand"]),
        .executable(name: "raft-chaos", targets: ["RaftChaosCommand"]),
        .executable(name: "raftctl", targets: ["RaftCtl"]),
        .executable(name: "raft-bench", targets: ["RaftBench"]),
        .executable(name: "raft-microbench", targets: ["RaftMicrobench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // System libraries, reached through module maps (Debian packages named in `providers`).
        .systemLibrary(
            name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // protobuf-c code generated from proto/ by deploy/gen-proto.sh, plus the C shim.
        .target(
            name: "CRaftProto",
            dependencies: ["CProtobufC"],
            linkerSettings: [.linkedLibrary("protobuf-c")]),

        // Swift value types of proto/raft.proto and proto/kv.proto; no dependencies.
        .target(name: "RaftMessages"),

        // Bytes <-> RaftMessages through libprotobuf-c, and the length-prefixed framing.
        .target(
            name: "RaftWire",
            dependencies: [
                "RaftMessages", "CRaftProto",
                .product(name: "NIOCore", package: "swift-nio"),
            ]),

        // zlib streaming compression and crc32.
        .target(name: "RaftZlib", dependencies: ["CZlib"]),

        // Asks glibc for one malloc arena, so that a state dropped for a snapshot is reused.
        .target(name: "CMemory"),

        // The deterministic Raft state machine: no I/O, clocks or threads. It encodes and decodes
        // the configuration changes it appends and applies through RaftWire (as etcd's raft uses
        // its raftpb package).
        .target(name: "RaftCore", dependencies: ["RaftMessages", "RaftWire"]),

        // A simulated cluster (network, persister, tester checks) that drives RaftCore on
        // simulated time; used by the core's tests and by later storage tests.
        .target(name: "RaftTestKit", dependencies: ["RaftCore", "RaftMessages"]),

        // Durable storage: write-ahead log segments, hard state and zlib-compressed snapshots.
        .target(name: "RaftStorage", dependencies: ["RaftCore", "RaftMessages", "RaftWire", "RaftZlib"]),

        // The node: drives the core with ticks, storage, a transport and a state machine.
        .target(
            name: "RaftNode",
            dependencies: [
                "RaftCore", "RaftMessages", "RaftStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]),

        // The replicated key-value state machine (exactly-once writes, streamed snapshots).
        .target(
            name: "RaftKV",
            dependencies: [
                "RaftMessages", "RaftWire", "RaftZlib", "RaftNode",
                .product(name: "NIOCore", package: "swift-nio"),
            ]),

        // TLS for every port (README, "Transport security"): certificates and keys read from PEM files
        // and reloaded when they change, a member's id in its certificate, handshake guards and
        // their failure counts.
        .target(
            name: "RaftTLS",
            dependencies: [
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Peer-to-peer TCP transport on SwiftNIO: framed envelopes, reconnects, bounded queues.
        .target(
            name: "RaftTransport",
            dependencies: [
                "RaftCore", "RaftMessages", "RaftWire", "RaftTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]),

        // The client port (a KV service over a RaftNode) for raft-node.
        .target(
            name: "RaftServer",
            dependencies: [
                "RaftNode", "RaftKV", "RaftWire", "RaftMessages", "RaftCore", "RaftTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // A pipelining client that follows redirects and retries writes exactly once.
        .target(
            name: "RaftClient",
            dependencies: [
                "RaftWire", "RaftMessages", "RaftTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),

        // The metrics page (README, "Metrics"): a Prometheus registry fed by the node and the transport,
        // served over HTTP with /healthz.
        .target(
            name: "RaftMetrics",
            dependencies: [
                "RaftCore", "RaftNode", "RaftTransport", "RaftTLS",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // The fault suite's parts: recorded key-value histories, a linearizability checker, an
        // HTML timeline of a history, TCP link proxies that cut real connections, and the
        // certificates of a TLS test cluster.
        .target(
            name: "RaftChaos",
            dependencies: [
                "RaftTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),

        // raft-chaos: real raft-node processes under faults, judged by the checker (deploy/chaos.sh).
        .executableTarget(
            name: "RaftChaosCommand",
            dependencies: [
                "RaftChaos", "RaftClient", "RaftCore", "RaftMessages", "RaftTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),

        // raft-node: one cluster member (flags in README, "Running a member"; graceful shutdown on SIGTERM).
        .executableTarget(
            name: "RaftNodeCommand",
            dependencies: [
                "RaftNode", "RaftKV", "RaftServer", "RaftStorage", "RaftTransport", "RaftCore", "RaftMetrics", "RaftTLS",
                "CMemory",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),

        // raftctl: put, get, delete, cas, status against the client port.
        .executableTarget(
            name: "RaftCtl",
            dependencies: [
                "RaftClient", "RaftMessages", "RaftTLS",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // raft-bench: load generator for swift-raft's client port and etcd's v3 JSON gateway.
        .executableTarget(
            name: "RaftBench",
            dependencies: [
                "RaftClient", "RaftMessages", "RaftWire", "RaftTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Release-mode throughput measurements (codec, core); see README.
        .executableTarget(
            name: "RaftMicrobench",
            dependencies: [
                "RaftWire", "RaftMessages", "RaftCore", "RaftStorage", "RaftClient", "RaftMetrics", "RaftNode",
                "RaftTransport", "RaftKV",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),

        .testTarget(
            name: "RaftWireTests",
            dependencies: [
                "RaftWire", "RaftMessages", "RaftCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(name: "RaftZlibTests", dependencies: ["RaftZlib", "RaftCore"]),
        .testTarget(name: "RaftKVTests", dependencies: ["RaftKV", "RaftMessages"]),
        .testTarget(name: "RaftChaosTests", dependencies: ["RaftChaos", "RaftCore"]),
        .testTarget(
            name: "RaftTLSTests",
            dependencies: ["RaftTLS", "RaftChaos", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "RaftNodeTests",
            dependencies: [
                "RaftNode", "RaftKV", "RaftCore", "RaftMessages", "RaftStorage", "RaftServer", "RaftClient", "RaftChaos",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "RaftTransportTests",
            dependencies: [
                "RaftTransport", "RaftCore", "RaftMessages", "RaftWire", "RaftTLS", "RaftChaos",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "RaftProcessTests",
            dependencies: [
                "RaftChaos", "RaftClient", "RaftMessages", "RaftTLS", "RaftWire",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore", "RaftTestKit", "RaftMessages", "RaftWire"]),
        .testTarget(
            name: "RaftStorageTests",
            dependencies: ["RaftStorage", "RaftCore", "RaftMessages", "RaftZlib", "RaftTestKit"]),
    ],
    swiftLanguageModes: [.v6]
)
