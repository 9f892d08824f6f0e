#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import RaftMetrics
import RaftTLS
import RaftTransport

/// A member's TLS, from its flags (README, "Transport security"): mutual TLS on the peer port,
/// TLS on the client port (client certificates when `--trusted-ca-file`), HTTPS on the metrics
/// page; and the watcher that reloads the files on SIGHUP or when they change.
struct NodeTLS {
    var peer: PeerTLS?
    var client: TLSEndpoint?
    var metrics: TLSEndpoint?
    var watcher: TLSCredentialWatcher?

    /// Reads every configured file; a file that cannot be used, or a peer certificate that names
    /// another member, is a `StartupError` naming the flag to fix.
    init(command: RaftNodeCommand, metrics registry: RaftMetrics, logger: Logger) throws {
        let timeout = TimeAmount.milliseconds(Int64(command.tlsHandshakeTimeoutMs))
        var ports: [TLSPort] = []
        if command.peerCertFile != nil { ports.append(.peer) }
        if command.certFile != nil { ports.append(.client) }
        if command.metricsCertFile != nil { ports.append(.metrics) }
        guard !ports.isEmpty else { return }
        let observer = registry.makeTLSObserver(ports: ports)
        var all: [TLSCredentials] = []
        let member = command.id
        func endpoint(_ port: TLSPort, _ role: TLSRole, _ files: TLSFiles, flags: String) throws -> TLSEndpoint {
            let credentials: TLSCredentials
            // A peer certificate must name this member, at start and after every rotation: one
            // naming another id would have every other member refuse this one.
            let validate = port == .peer ? MemberIdentity.certificateMustName(member: member, file: files.certificateFile) : nil
            do {
                // The peer port's dialling side reads the same files as its accepting side: its
                // loads and failed reloads are reported once, by the latter.
                credentials = try TLSCredentials(
                    port: port, role: role, files: files, observer: role == .client ? NoopTLSObserver() : observer,
                    validate: validate)
            } catch {
                throw StartupError("\(flags): \(error)")
            }
            all.append(credentials)
            if let certificate = credentials.certificate, role == .server {
                // Served anyway (the clock may be what is wrong), but said at once: others will
                // refuse this member's handshakes.
                let now = time(nil)
                if certificate.notValidAfter < now || certificate.notValidBefore > now {
                    logger.error(
                        "this member's certificate for the \(port.rawValue) port is not valid now (\(files.certificateFile ?? ""))")
                }
            }
            return TLSEndpoint(credentials: credentials, observer: observer, logger: logger, handshakeTimeout: timeout)
        }
        if let cert = command.peerCertFile, let key = command.peerKeyFile, let ca = command.peerTrustedCAFile {
            let files = TLSFiles(certificateFile: cert, keyFile: key, trustedCAFile: ca)
            let flags = "--peer-cert-file/--peer-key-file/--peer-trusted-ca-file"
            let server = try endpoint(.peer, .server, files, flags: flags)
            let client = try endpoint(.peer, .client, files, flags: flags)
            peer = PeerTLS(server: server, client: client)
        }
        if let cert = command.certFile, let key = command.keyFile {
            client = try endpoint(
                .client, .server, TLSFiles(certificateFile: cert, keyFile: key, trustedCAFile: command.trustedCAFile),
                flags: "--cert-file/--key-file/--trusted-ca-file")
        }
        if let cert = command.metricsCertFile, let key = command.metricsKeyFile {
            metrics = try endpoint(
                .metrics, .server, TLSFiles(certificateFile: cert, keyFile: key, trustedCAFile: nil),
                flags: "--metrics-cert-file/--metrics-key-file")
        }
        watcher = TLSCredentialWatcher(credentials: all, logger: logger)
    }
}
