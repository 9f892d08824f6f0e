import RaftTLS

/// Mutual TLS between members (README, "Transport security"), from `--peer-cert-file`,
/// `--peer-key-file` and `--peer-trusted-ca-file`.
///
/// Both directions authenticate a member by its certificate: signed by the trusted CA, subject
/// common name `member-<id>` (`MemberIdentity`). An accepted connection is bound to the id its
/// certificate names, and an envelope on it whose `from_id` is another id is refused and closes
/// the connection; a dialled member must present the certificate of the id dialled, for the
/// address dialled. Plaintext, an untrusted chain or no certificate fail the handshake.
public struct PeerTLS: Sendable {
    /// Accepts members' connections; its credentials must ask for client certificates (a
    /// trusted CA file).
    public var server: TLSEndpoint
    /// Dials members, presenting this member's certificate.
    public var client: TLSEndpoint

    public init(server: TLSEndpoint, client: TLSEndpoint) {
        precondition(server.credentials.role == .server && client.credentials.role == .client)
        precondition(server.credentials.files.trustedCAFile != nil, "peer TLS is mutual: the server needs a trusted CA")
        self.server = server
        self.client = client
    }

    /// Counts and logs (rate-limited) an authenticated peer refused for who it is.
    func refuse(_ reason: TLSIdentityRefusal, endpoint: TLSEndpoint, detail: String, remote: String) {
        endpoint.observer.identityRefused(port: .peer, reason: reason)
        endpoint.logFailure(
            "peer connection refused: \(detail)", cause: reason.rawValue, metadata: ["remote": "\(remote)"])
    }
}
