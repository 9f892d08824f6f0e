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
    /// other error).
    init?(_ error: any Error) {
        guard let error = error as? KVClientError, case .tls(let endpoint, let reason) = error else { return nil }
        self.init(endpoint: endpoint, reason: reason)
    }

    init(endpoint: String, reason: String) {
        self.endpoint = endpoint
        self.reason = reason
    }

    /// The server refusing this client's certificate, when `error` (a failed read on an
    /// established connection) says so; nil for any other error.
    init?(alert error: any Error, endpoint: String) {
        guard let reason = tlsRefusalAfterHandshake(error) else { return nil }
        self.init(endpoint: endpoint, reason: reason)
    }
}

/// The TLS side of a new connection to `endpoint` (`TLSClientHandshake`), its failure thrown as
/// `BenchTLSError` naming the endpoint.
struct BenchTLSConnection: Sendable {
    let handshake: TLSClientHandshake
    let endpoint: String

    init(tls: TLSEndpoint?, endpoint: String, host: String) {
        handshake = TLSClientHandshake(tls: tls, serverHost: host)
        self.endpoint = endpoint
    }

    /// See `TLSClientHandshake.addHandlers(to:)`.
    func addHandlers(to channel: any Channel) throws {
        try handshake.addHandlers(to: channel)
    }

    /// Waits for the handshake of the connected `channel`; a failure closes it and throws
    /// `BenchTLSError` naming the endpoint and the reason.
    func waitForHandshake(of channel: any Channel) async throws {
        do {
            try await handshake.wait(closingOnFailure: channel)
        } catch {
            throw BenchTLSError(endpoint: endpoint, reason: "\(error)")
        }
    }
}

