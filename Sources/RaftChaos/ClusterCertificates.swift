import Foundation
import RaftTLS

/// Certificates for a test or fault-suite cluster, made when it starts by `deploy/certs.sh`
/// (openssl) in a directory of its own: a CA, `member-<id>` certificates for 127.0.0.1 and a
/// client certificate, and any others asked for (another CA's, an expired one).
public struct ClusterCertificates: Sendable {
    public let directory: URL
    /// deploy/certs.sh.
    public let script: URL

    /// deploy/certs.sh of the checkout this library was built from.
    public static var defaultScript: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/certs.sh")
    }

    /// The certificates of a cluster of `size` members under `root`, and the client side of
    /// TLS with the client certificate; (nil, nil) for a plaintext cluster.
    public static func forCluster(tls: Bool, size: Int, root: URL) throws -> (ClusterCertificates?, TLSEndpoint?) {
        guard tls else { return (nil, nil) }
        let certificates = try ClusterCertificates(members: size, in: root.appendingPathComponent("certs"))
        return (certificates, try certificates.clientTLS("client"))
    }

    /// A CA, members `1...members` and the client certificate in `directory`.
    public init(members: Int, in directory: URL, script: URL = Self.defaultScript) throws {
        self.directory = directory
        self.script = script
        try certs(["--dir", directory.path, "--members", (1...members).map(String.init).joined(separator: ","), "--hosts", "127.0.0.1"])
    }

    /// Runs deploy/certs.sh with `arguments` (bounded: openssl finishes in well under a minute).
    private func certs(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { [process] in
            if process.isRunning { kill(pid, SIGKILL) }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CertificateError(description: "deploy/certs.sh \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }

    public struct CertificateError: Error, CustomStringConvertible {
        public let description: String
    }

    public var ca: String { directory.appendingPathComponent("ca.pem").path }
    public func certificate(_ name: String) -> String { directory.appendingPathComponent("\(name).pem").path }
    public func key(_ name: String) -> String { directory.appendingPathComponent("\(name)-key.pem").path }

    /// Makes `member-<id>` (or `name`) signed by this CA for `hosts`, valid for `days`
    /// (negative: expired).
    public func makeMember(_ id: Int, name: String? = nil, days: Int = 365, hosts: String = "127.0.0.1") throws {
        var arguments = ["member", "\(id)", "--dir", directory.path, "--hosts", hosts, "--days", "\(days)"]
        if let name { arguments += ["--out", name] }
        try certs(arguments)
    }

    /// Makes a client certificate `client-<name>` with common name `name`, valid for `days`.
    public func makeClient(_ name: String, days: Int = 365) throws {
        try certs(["client", name, "--dir", directory.path, "--days", "\(days)"])
    }

    /// Client-side TLS with the files `name` (nil: no certificate of its own), trusting `ca`.
    public func clientTLS(_ name: String?, trusting ca: String? = nil) throws -> TLSEndpoint {
        try TLSEndpoint.client(trustedCAFile: ca ?? self.ca, certificateFile: name.map(certificate), keyFile: name.map(key))
    }

    /// The raft-node flags of member `id` for TLS on every port (client certificates required),
    /// with a 1 s handshake timeout; makes its certificate first if it has none yet (a member
    /// added later).
    public func nodeFlags(member id: Int) throws -> [String] {
        let name = "member-\(id)"
        if !FileManager.default.fileExists(atPath: certificate(name)) { try makeMember(id) }
        return [
            "--peer-cert-file", certificate(name), "--peer-key-file", key(name), "--peer-trusted-ca-file", ca,
            "--cert-file", certificate(name), "--key-file", key(name), "--trusted-ca-file", ca,
            "--metrics-cert-file", certificate(name), "--metrics-key-file", key(name),
            "--tls-handshake-timeout-ms", "1000",
        ]
    }
}
