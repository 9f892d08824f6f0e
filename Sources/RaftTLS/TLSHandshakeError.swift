/// A TLS handshake that did not complete, as a client sees it.
public struct TLSHandshakeError: Error, Sendable, CustomStringConvertible {
    public let reason: TLSHandshakeFailure
    /// What the TLS library said.
    public let detail: String

    public init(reason: TLSHandshakeFailure, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        switch reason {
        case .untrustedCertificate: "the server's certificate is not signed by the trusted CA (\(detail))"
        case .expiredCertificate: "the server's certificate has expired"
        case .notYetValidCertificate: "the server's certificate is not valid yet"
        case .hostnameMismatch: "the server's certificate does not name the address dialled"
        case .refusedByPeer: "the server refused this client's certificate, or its absence (\(detail))"
        case .notTLS: "the server does not speak TLS (\(detail))"
        case .timeout: "no TLS handshake within the timeout"
        case .closed: "the server closed the connection during the TLS handshake"
        case .noCertificate: "no certificate was presented"
        case .other: "\(detail)"
        }
    }
}

/// The short reason codes in a TLS library error ("CERTIFICATE_VERIFY_FAILED"), without the
/// library's file paths and numbers; the whole text when it has none.
public func tlsErrorSummary(_ error: any Error) -> String {
    let text = "\(error)"
    var codes: [String] = []
    var rest = text[...]
    while let range = rest.firstRange(of: "OPENSSL_internal:") {
        let tail = rest[range.upperBound...]
        let code = tail.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        if !code.isEmpty, !codes.contains(String(code)) { codes.append(String(code)) }
        rest = tail
    }
    return codes.isEmpty ? text : codes.joined(separator: ", ")
}

/// What a failed read on an established client connection means when it is a TLS alert: under
/// TLS 1.3 the client's handshake completes before the server has checked the client's
/// certificate, so a server that refuses it (or its absence) says so on the first read. Nil for
/// any other error.
public func tlsRefusalAfterHandshake(_ error: any Error) -> String? {
    let summary = tlsErrorSummary(error)
    guard summary.contains("ALERT") else { return nil }
    return summary.contains("CERTIFICATE_REQUIRED")
        ? "the server requires a client certificate (--cert and --key)"
        : "the server refused this client's certificate (\(summary))"
}
