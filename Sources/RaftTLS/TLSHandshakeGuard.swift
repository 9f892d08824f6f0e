#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Sits right after the `NIOSSLHandler` of every TLS connection: bounds the handshake by a timeout,
/// counts and logs (rate-limited) each failed handshake by cause, and tells the handlers behind it
/// who the other side is (`TLSPeerAuthenticated`).
///
/// A failed handshake ends here: its error is not passed on and the connection closes. The
/// handlers behind it see no data before the handshake completed, but they do see the channel
/// become active and inactive, and a handler that refuses an authenticated peer must itself
/// ignore what NIOSSL still decodes while the connection closes.
final class TLSHandshakeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let endpoint: TLSEndpoint
    private var timeout: Scheduled<Void>?
    private var finished = false
    /// Completed when the handshake completes, failed with `TLSHandshakeError` when it fails.
    private let outcome: EventLoopPromise<TLSPeerAuthenticated>?

    init(endpoint: TLSEndpoint, outcome: EventLoopPromise<TLSPeerAuthenticated>? = nil) {
        self.endpoint = endpoint
        self.outcome = outcome
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        // Torn down before the handshake ended (the connect failed, say): the waiter learns it.
        if !finished {
            finished = true
            report(.failure(TLSHandshakeError(reason: .closed, detail: "connection closed before the handshake")))
        }
    }

    /// Called once, by whichever path set `finished`.
    private func report(_ result: Result<TLSPeerAuthenticated, TLSHandshakeError>) {
        outcome?.completeWith(result.mapError { $0 as any Error })
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        if !finished {
            finished = true
            fail(.closed, context, detail: "connection closed during the handshake", close: false)
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !finished, let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            finished = true
            timeout?.cancel()
            endpoint.observer.handshakeCompleted(port: endpoint.port)
            let authenticated = TLSPeerAuthenticated(certificate: peerCertificate(context))
            context.fireUserInboundEventTriggered(event)
            context.fireUserInboundEventTriggered(authenticated)
            report(.success(authenticated))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !finished else { return context.fireErrorCaught(error) }
        finished = true
        timeout?.cancel()
        let reason = Self.classify(error, peerCertificate: { peerCertificate(context) })
        fail(reason, context, detail: tlsErrorSummary(error), close: true)
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        guard timeout == nil, !finished else { return }
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: endpoint.handshakeTimeout) { [self] in
            guard !finished else { return }
            finished = true
            fail(.timeout, context, detail: "no handshake within \(endpoint.handshakeTimeout)", close: true)
        }
    }

    private func fail(_ reason: TLSHandshakeFailure, _ context: ChannelHandlerContext, detail: String, close: Bool) {
        endpoint.observer.handshakeFailed(port: endpoint.port, reason: reason)
        report(.failure(TLSHandshakeError(reason: reason, detail: detail)))
        // A connection that closes before saying anything (a TCP health check) is counted, not logged.
        if reason != .closed || endpoint.logsClosedHandshakes {
            endpoint.logFailure(
                "TLS handshake failed on the \(endpoint.port.rawValue) port", cause: reason.rawValue,
                metadata: ["remote": "\(context.remoteAddress.map { "\($0)" } ?? "?")", "error": "\(detail)"])
        }
        if close { context.close(promise: nil) }
    }

    private func peerCertificate(_ context: ChannelHandlerContext) -> NIOSSLCertificate? {
        try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self).peerCertificate
    }

    /// The cause of a failed handshake. BoringSSL says only "certificate verify failed" for any
    /// chain it refuses, so the other side's certificate (which it keeps) tells an expired or
    /// not yet valid one from one of an unknown CA. Only the leaf's dates are read: an expired
    /// certificate of another CA counts as expired, an expired intermediate as untrusted. A TLS
    /// version this side does not accept, or a malformed hello, counts as `other`.
    static func classify(_ error: any Error, peerCertificate: () -> NIOSSLCertificate?) -> TLSHandshakeFailure {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return .hostnameMismatch
        }
        guard let sslError = error as? NIOSSLError else { return .other }
        switch sslError {
        case .uncleanShutdown:
            return .closed
        case .handshakeFailed(let failure):
            let text = "\(failure)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                guard let certificate = peerCertificate() else { return .untrustedCertificate }
                let now = time(nil)
                if certificate.notValidAfter < now { return .expiredCertificate }
                if certificate.notValidBefore > now { return .notYetValidCertificate }
                return .untrustedCertificate
            }
            if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") { return .noCertificate }
            if text.contains("ALERT") { return .refusedByPeer }
            if text.contains("EOF during handshake") { return .closed }
            let notTLS = [
                "WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL",
                "RECORD_TOO_LARGE", "UNEXPECTED_RECORD", "ENCRYPTED_LENGTH_TOO_LONG", "EXCESSIVE_MESSAGE_SIZE",
            ]
            if notTLS.contains(where: text.contains) { return .notTLS }
            return .other
        default:
            return .other
        }
    }
}
