import NIOConcurrencyHelpers
import NIOCore
import RaftClient
import RaftTLS

/// A TLS failure with one endpoint of the system under test. It ends the run: retrying does not
/// fix a certificate.
struct BenchTLSError: Error, CustomStringConvertible {
    var endpoint: String
    var reason: String

    var description: String { "TLS with \(endpoint) failed: \(reason)" }

    /// The same failure when `KVClient` or `ClientResponseMatcher` reported it (nil for any
    /// other error). Their advice names raftctl's flags; raft-bench's have the same names.
    init?(_ error: any Error) {
        guard let error = error as? KVClientError, case .tls(let endpoint, let reason) = error else { return nil }
        self.init(endpoint: endpoint, reason: reason.replacing("(raftctl: --cert and --key)", with: "(--cert and --key)"))
    }

    init(endpoint: String, reason: String) {
        self.endpoint = endpoint
        self.reason = reason
    }

    /// What a failed read on an established TLS connection says, when it is the server refusing
    /// this client's certificate: under TLS 1.3 the client's handshake completes before the server
    /// has checked the client's certificate, so a refusal arrives as an alert on the first read.
    /// Nil for any other error.
    init?(alert error: any Error, endpoint: String) {
        let summary = tlsErrorSummary(error)
        guard summary.contains("ALERT") else { return nil }
        let reason =
            summary.contains("CERTIFICATE_REQUIRED")
            ? "the server requires a client certificate (--cert and --key)"
            : "the server refused this client's certificate (\(summary))"
        self.init(endpoint: endpoint, reason: reason)
    }
}

/// The TLS side of a new connection: adds the client handlers in the channel initializer, then
/// waits for the handshake once connected.
struct BenchTLSConnection: Sendable {
    let tls: TLSEndpoint?
    let endpoint: String
    let host: String
    private let handshake = NIOLockedValueBox<EventLoopFuture<TLSPeerAuthenticated>?>(nil)

    init(tls: TLSEndpoint?, endpoint: String, host: String) {
        self.tls = tls
        self.endpoint = endpoint
        self.host = host
    }

    /// Puts the TLS handler and its handshake guard first in `channel`'s pipeline (nothing
    /// without TLS). Call in the channel initializer, on the channel's event loop, before adding
    /// the connection's own handlers.
    func addHandlers(to channel: any Channel) throws {
        guard let tls else { return }
        let done = try tls.addClientHandlers(to: channel, serverHost: host)
        handshake.withLockedValue { $0 = done }
    }

    /// Waits for the handshake of the connected `channel`; a failure closes it and throws
    /// `BenchTLSError` naming the endpoint and the reason.
    func waitForHandshake(of channel: any Channel) async throws {
        guard let done = handshake.withLockedValue({ $0 }) else { return }
        do {
            _ = try await done.get()
        } catch {
            try? await channel.close()
            throw BenchTLSError(endpoint: endpoint, reason: "\(error)")
        }
    }
}

/// The `--cacert`, `--cert` and `--key` files as a client TLS endpoint; nil (plaintext) without
/// `--cacert`. Unreadable or mismatched files throw `TLSSetupError` saying which.
func benchTLSEndpoint(cacert: String?, cert: String?, key: String?) throws -> TLSEndpoint? {
    guard let cacert else { return nil }
    let credentials = try TLSCredentials(
        port: .client, role: .client, files: TLSFiles(certificateFile: cert, keyFile: key, trustedCAFile: cacert))
    return TLSEndpoint.client(credentials: credentials)
}
