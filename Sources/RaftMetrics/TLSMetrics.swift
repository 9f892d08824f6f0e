import Prometheus
import RaftTLS

/// The TLS families of the metrics page (README, "Metrics"), for the ports that speak TLS:
/// completed and failed handshakes by cause, peers refused for who they are, and the expiry of
/// this member's certificate on each port.
public final class TLSMetrics: TLSObserver {
    private let handshakes: [TLSPort: Counter]
    private let failures: [TLSPort: [TLSHandshakeFailure: Counter]]
    private let refusals: [TLSPort: [TLSIdentityRefusal: Counter]]
    private let expiry: [TLSPort: Gauge]
    private let reloadFailures: [TLSPort: Counter]

    init(registry r: PrometheusCollectorRegistry, ports: [TLSPort]) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            RaftMetrics.name(metric, unit, help)
        }
        func perPort<T>(_ make: (TLSPort) -> T) -> [TLSPort: T] {
            Dictionary(uniqueKeysWithValues: ports.map { ($0, make($0)) })
        }
        handshakes = perPort { port in
            r.makeCounter(
                descriptor: name("tls_handshakes", "total", "TLS handshakes completed."), labels: [("port", port.rawValue)])
        }
        /// One counter per port and reason of `family`.
        func perPortAndReason<Reason: CaseIterable & RawRepresentable & Hashable>(
            _ family: MetricNameDescriptor, _: Reason.Type
        ) -> [TLSPort: [Reason: Counter]] where Reason.RawValue == String {
            perPort { port in
                Dictionary(
                    uniqueKeysWithValues: Reason.allCases.map { reason in
                        (reason, r.makeCounter(descriptor: family, labels: [("port", port.rawValue), ("reason", reason.rawValue)]))
                    })
            }
        }
        failures = perPortAndReason(
            name("tls_handshake_failures", "total", "TLS handshakes that failed, by cause (the connection was closed)."),
            TLSHandshakeFailure.self)
        // Identities are checked on the peer port only; the family is there for every TLS port
        // so that an alert reads one name.
        refusals = perPortAndReason(
            name(
                "tls_identity_refused", "total",
                "Authenticated connections refused for the identity they claim (the connection was closed)."),
            TLSIdentityRefusal.self)
        expiry = perPort { port in
            r.makeGauge(
                descriptor: name(
                    "tls_certificate_expiry_timestamp", "seconds",
                    "When this member's certificate on the port expires (notAfter, Unix time)."),
                labels: [("port", port.rawValue)])
        }
        reloadFailures = perPort { port in
            r.makeCounter(
                descriptor: name(
                    "tls_certificate_reload_failures", "total",
                    "Certificate reloads that failed (the previous certificate stays in use)."),
                labels: [("port", port.rawValue)])
        }
    }

    public func handshakeCompleted(port: TLSPort) { handshakes[port]?.increment() }
    public func handshakeFailed(port: TLSPort, reason: TLSHandshakeFailure) { failures[port]?[reason]?.increment() }
    public func identityRefused(port: TLSPort, reason: TLSIdentityRefusal) { refusals[port]?[reason]?.increment() }
    public func certificateLoaded(port: TLSPort, notValidAfter: Int64) { expiry[port]?.set(to: Double(notValidAfter)) }
    public func certificateReloadFailed(port: TLSPort) { reloadFailures[port]?.increment() }
}

extension RaftMetrics {
    /// Registers the TLS families for `ports` (call once, with every port that speaks TLS).
    public func makeTLSObserver(ports: [TLSPort]) -> TLSMetrics {
        TLSMetrics(registry: registry, ports: ports)
    }
}
