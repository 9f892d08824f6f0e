import Logging
import NIOCore
import NIOSSL

/// TLS for one port of a member, or for one client: the credentials, where failures are counted
/// and logged, and how long a handshake may take. Adds the TLS handlers to a new connection.
public struct TLSEndpoint: Sendable {
    public let credentials: TLSCredentials
    public let observer: any TLSObserver
    public let logger: Logger
    /// A connection that has not completed its handshake after this long is closed
    /// (`TLSHandshakeFailure.timeout`): a peer that connects and says nothing holds no resources.
    public let handshakeTimeout: TimeAmount
    /// Whether connections closed during the handshake are logged too (clients: yes; servers
    /// see health checks and port scans).
    let logsClosedHandshakes: Bool
    private let logLimiter: LogRateLimiter

    public init(
        credentials: TLSCredentials, observer: any TLSObserver = NoopTLSObserver(), logger: Logger,
        handshakeTimeout: TimeAmount = .seconds(5), logInterval: TimeAmount = .seconds(10)
    ) {
        self.credentials = credentials
        self.observer = observer
        self.logger = logger
        self.handshakeTimeout = handshakeTimeout
        self.logsClosedHandshakes = credentials.role == .client
        self.logLimiter = LogRateLimiter(interval: logInterval)
    }

    public var port: TLSPort { credentials.port }

    /// Adds the server-side TLS handler and the handshake guard at the front of a newly accepted
    /// channel's pipeline. Must be called on the channel's event loop.
    public func addServerHandlers(to channel: any Channel) throws {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(NIOSSLServerHandler(context: credentials.context), position: .first)
        try operations.addHandler(
            TLSHandshakeGuard(endpoint: self), position: .after(operations.handler(type: NIOSSLServerHandler.self)))
    }

    /// Adds the client-side TLS handler (verifying the server's certificate against `host`, a
    /// name or an IP address) and the handshake guard at the front of a new outbound channel's
    /// pipeline. Must be called on the channel's event loop. The future completes with the
    /// server's certificate when the handshake completes, and fails with `TLSHandshakeError`.
    @discardableResult
    public func addClientHandlers(
        to channel: any Channel, serverHost host: String
    ) throws -> EventLoopFuture<TLSPeerAuthenticated> {
        let operations = channel.pipeline.syncOperations
        // An IP address is not a server name (SNI): NIOSSL then checks the certificate's IP SANs
        // against the address connected to.
        let serverName = Self.isIPAddress(host) ? nil : host
        try operations.addHandler(
            NIOSSLClientHandler(context: credentials.context, serverHostname: serverName), position: .first)
        let outcome = channel.eventLoop.makePromise(of: TLSPeerAuthenticated.self)
        do {
            try operations.addHandler(
                TLSHandshakeGuard(endpoint: self, outcome: outcome),
                position: .after(operations.handler(type: NIOSSLClientHandler.self)))
        } catch {
            outcome.fail(error)
            throw error
        }
        return outcome.futureResult
    }

    /// Logs `message` unless a line for `cause` was logged on this port within the log interval.
    public func logFailure(_ message: String, cause: String, metadata: Logger.Metadata = [:]) {
        guard let suppressed = logLimiter.admit(cause) else { return }
        var metadata = metadata
        metadata["port"] = "\(port.rawValue)"
        metadata["cause"] = "\(cause)"
        if suppressed > 0 { metadata["not_logged_since_last"] = "\(suppressed)" }
        logger.warning("\(message)", metadata: metadata)
    }

    /// An endpoint for a client program (raftctl, raft-bench, `KVClient`): failures are thrown
    /// to the caller (`TLSHandshakeError`), not logged.
    public static func client(credentials: TLSCredentials, handshakeTimeout: TimeAmount = .seconds(5)) -> TLSEndpoint {
        TLSEndpoint(
            credentials: credentials, logger: Logger(label: "raft.tls", factory: { _ in SwiftLogNoOpLogHandler() }),
            handshakeTimeout: handshakeTimeout)
    }

    /// A client endpoint from PEM files: trusting servers whose certificate `trustedCAFile`
    /// signed, presenting `certificateFile` and `keyFile` when given (raftctl's and raft-bench's
    /// `--cacert`, `--cert`, `--key`). Unreadable or mismatched files throw `TLSSetupError`.
    public static func client(
        trustedCAFile: String, certificateFile: String?, keyFile: String?, handshakeTimeout: TimeAmount = .seconds(5)
    ) throws -> TLSEndpoint {
        let credentials = try TLSCredentials(
            port: .client, role: .client,
            files: TLSFiles(certificateFile: certificateFile, keyFile: keyFile, trustedCAFile: trustedCAFile))
        return client(credentials: credentials, handshakeTimeout: handshakeTimeout)
    }

    static func isIPAddress(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return (try? SocketAddress(ipAddress: bare, port: 0)) != nil
    }
}
