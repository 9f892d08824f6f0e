import Foundation
import RaftTLS

/// Certificates made at test time by `deploy/certs.sh` (openssl), in a directory of the test's
/// own: a CA, `member-<id>` certificates for 127.0.0.1 and a client certificate, and any others
/// a test asks for (another CA's, an expired one).
struct TestCertificates: Sendable {
    let directory: URL

    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/certs.sh")
    }

    /// A CA, members `1...members` and the client certificate in `directory`.
    init(members: Int, in directory: URL) throws {
        self.directory = directory
        try certs(["--dir", directory.path, "--members", (1...members).map(String.init).joined(separator: ","), "--hosts", "127.0.0.1"])
    }

    /// Runs deploy/certs.sh with `arguments`.
    private func certs(_ arguments: [String]) throws {
        let (status, output) = try run("/bin/bash", [Self.script.path] + arguments)
        guard status == 0 else { throw ClusterFailure(description: "deploy/certs.sh \(arguments) failed: \(output)") }
    }

    var ca: String { directory.appendingPathComponent("ca.pem").path }
    func certificate(_ name: String) -> String { directory.appendingPathComponent("\(name).pem").path }
    func key(_ name: String) -> String { directory.appendingPathComponent("\(name)-key.pem").path }

    /// Makes `member-<id>` (or `name`) signed by this CA, valid for `days` (negative: expired).
    func makeMember(_ id: Int, name: String? = nil, days: Int = 365) throws {
        var arguments = ["member", "\(id)", "--dir", directory.path, "--hosts", "127.0.0.1", "--days", "\(days)"]
        if let name { arguments += ["--out", name] }
        try certs(arguments)
    }

    /// Makes a client certificate `client-<name>` with common name `name`, valid for `days`.
    func makeClient(_ name: String, days: Int = 365) throws {
        try certs(["client", name, "--dir", directory.path, "--days", "\(days)"])
    }

    /// Client-side TLS with the files `name` (nil: no certificate of its own), trusting `ca`.
    func clientTLS(_ name: String?, trusting ca: String? = nil) throws -> TLSEndpoint {
        let credentials = try TLSCredentials(
            port: .client, role: .client,
            files: TLSFiles(
                certificateFile: name.map(certificate), keyFile: name.map(key), trustedCAFile: ca ?? self.ca))
        return TLSEndpoint.client(credentials: credentials, handshakeTimeout: .seconds(5))
    }

    /// The raft-node flags of member `id` for TLS on every port (client certificates required).
    func nodeFlags(member id: Int) -> [String] {
        let name = "member-\(id)"
        return [
            "--peer-cert-file", certificate(name), "--peer-key-file", key(name), "--peer-trusted-ca-file", ca,
            "--cert-file", certificate(name), "--key-file", key(name), "--trusted-ca-file", ca,
            "--metrics-cert-file", certificate(name), "--metrics-key-file", key(name),
            "--tls-handshake-timeout-ms", "1000",
        ]
    }
}
