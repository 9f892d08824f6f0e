/// The PEM files one side of a TLS connection is configured with.
///
/// `certificateFile` holds this side's certificate, followed by any intermediates; `keyFile` its
/// private key. `trustedCAFile` holds the certificates the other side's chain must end in: on a
/// server, setting it makes client certificates required; on a client, it replaces the system's
/// trust roots. A client may have no certificate of its own (raftctl with only `--cacert`).
public struct TLSFiles: Sendable, Hashable {
    public var certificateFile: String?
    public var keyFile: String?
    public var trustedCAFile: String?

    public init(certificateFile: String?, keyFile: String?, trustedCAFile: String?) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.trustedCAFile = trustedCAFile
    }

    /// The files that exist on disk as named, for change detection.
    var paths: [String] { [certificateFile, keyFile, trustedCAFile].compactMap { $0 } }
}
