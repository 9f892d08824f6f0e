// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-raft",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "RaftWire", targets: ["RaftWire"]),
        .library(name: "RaftStorage", targets: ["RaftStorage"]),
        .executable(name: "raft-microbench", targets: ["RaftMicrobench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
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

        // The deterministic Raft state machine: no I/O, clocks or threads.
        .target(name: "RaftCore", dependencies: ["RaftMessages"]),

        // A simulated cluster (network, persister, tester checks) that drives RaftCore on
        // simulated time; used by the core's tests and by later storage tests.
        .target(name: "RaftTestKit", dependencies: ["RaftCore", "RaftMessages"]),

        // Durable storage: write-ahead log segments, hard state and zlib-compressed snapshots.
        .target(name: "RaftStorage", dependencies: ["RaftCore", "RaftMessages", "RaftZlib"]),

        // Release-mode throughput measurements (codec, core); see README.
        .executableTarget(
            name: "RaftMicrobench",
            dependencies: ["RaftWire", "RaftMessages", "RaftCore", "RaftStorage"]),

        .testTarget(
            name: "RaftWireTests",
            dependencies: [
                "RaftWire", "RaftMessages", "RaftCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(name: "RaftZlibTests", dependencies: ["RaftZlib", "RaftCore"]),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore", "RaftTestKit", "RaftMessages"]),
        .testTarget(
            name: "RaftStorageTests",
            dependencies: ["RaftStorage", "RaftCore", "RaftMessages", "RaftZlib", "RaftTestKit"]),
    ],
    swiftLanguageModes: [.v6]
)
