// swift-tools-version:6.1
// libFuzzer harness for the frame and message decoders. Not part of the main
// build: deploy/fuzz.sh builds it with `-sanitize=fuzzer,address` and runs it.
import PackageDescription

let package = Package(
    name: "RaftFuzz",
    dependencies: [
        .package(name: "swift-raft", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzWire",
            dependencies: [
                .product(name: "RaftWire", package: "swift-raft"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
