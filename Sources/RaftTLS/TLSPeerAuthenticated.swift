import NIOSSL

/// Fired down the pipeline by `TLSHandshakeGuard` once the handshake completes, before any
/// application byte is read: the certificate the other side authenticated with (nil when it was
/// not asked for one), and the member id it names (`MemberIdentity`).
public struct TLSPeerAuthenticated: Sendable {
    public let certificate: NIOSSLCertificate?

    public init(certificate: NIOSSLCertificate?) {
        self.certificate = certificate
    }

    public var memberID: UInt64? { certificate.flatMap(MemberIdentity.memberID(of:)) }
    public var commonName: String? { certificate.flatMap(MemberIdentity.commonName(of:)) }
}
