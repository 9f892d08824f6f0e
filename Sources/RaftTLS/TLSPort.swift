/// The listening ports of a member that can speak TLS; the `port` label of the TLS metrics.
public enum TLSPort: String, Sendable, Hashable, CaseIterable {
    /// Member to member (`--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`): mutual TLS.
    case peer
    /// The client port (`--cert-file`, `--key-file`; client certificates when `--trusted-ca-file`).
    case client
    /// The metrics page (`--metrics-cert-file`, `--metrics-key-file`).
    case metrics
}
