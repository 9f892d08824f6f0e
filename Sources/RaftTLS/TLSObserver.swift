/// Why a TLS handshake did not complete; the `reason` label of
/// `raft_tls_handshake_failures_total`.
public enum TLSHandshakeFailure: String, Sendable, Hashable, CaseIterable {
    /// The other side's certificate does not chain to the trusted CA.
    case untrustedCertificate = "untrusted_certificate"
    /// The other side's certificate (or one in its chain) is past its notAfter date.
    case expiredCertificate = "expired_certificate"
    /// The other side's certificate (or one in its chain) is before its notBefore date.
    case notYetValidCertificate = "not_yet_valid_certificate"
    /// A client certificate is required and the client sent none.
    case noCertificate = "no_certificate"
    /// The bytes received are not TLS (plaintext to a TLS port, or garbage).
    case notTLS = "not_tls"
    /// The handshake did not finish within the handshake timeout.
    case timeout
    /// The server's certificate does not name the address dialled.
    case hostnameMismatch = "hostname_mismatch"
    /// The other side refused this side's certificate (a TLS alert).
    case refusedByPeer = "refused_by_peer"
    /// The connection closed before the handshake finished (port scans, health checks).
    case closed
    case other
}

/// Why an authenticated peer was refused; the `reason` label of `raft_tls_identity_refused_total`.
public enum TLSIdentityRefusal: String, Sendable, Hashable, CaseIterable {
    /// A certificate signed by the trusted CA whose common name is not `member-<id>` (a client
    /// certificate presented to the peer port, say).
    case notAMemberCertificate = "not_a_member_certificate"
    /// An envelope whose `from_id` differs from the id its connection authenticated.
    case fromIDMismatch = "from_id_mismatch"
    /// The member reached at a peer's address is not that peer (its certificate names another).
    case unexpectedMember = "unexpected_member"
}

/// What the TLS layer tells the metrics. Called on event loops; implementations must be cheap
/// and thread-safe.
public protocol TLSObserver: Sendable {
    func handshakeCompleted(port: TLSPort)
    func handshakeFailed(port: TLSPort, reason: TLSHandshakeFailure)
    func identityRefused(port: TLSPort, reason: TLSIdentityRefusal)
    /// This member's certificate on `port` was loaded (at start or on a reload); `notValidAfter`
    /// in seconds since 1970.
    func certificateLoaded(port: TLSPort, notValidAfter: Int64)
    func certificateReloadFailed(port: TLSPort)
}

public struct NoopTLSObserver: TLSObserver {
    public init() {}
    public func handshakeCompleted(port: TLSPort) {}
    public func handshakeFailed(port: TLSPort, reason: TLSHandshakeFailure) {}
    public func identityRefused(port: TLSPort, reason: TLSIdentityRefusal) {}
    public func certificateLoaded(port: TLSPort, notValidAfter: Int64) {}
    public func certificateReloadFailed(port: TLSPort) {}
}
