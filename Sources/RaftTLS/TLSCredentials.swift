#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOSSL

/// Which side of the handshake a set of credentials is for.
public enum TLSRole: Sendable, Hashable {
    /// Accepts connections. Asks for and verifies client certificates when the files name a
    /// trusted CA (the certificate's chain, not a hostname: clients dial from anywhere).
    case server
    /// Dials. Verifies the server's chain against the trusted CA (the system's roots without one)
    /// and that its certificate names the address dialled; presents its own certificate if any.
    case client
}

/// A certificate, key and trusted CA read from PEM files into a `NIOSSLContext`, which new
/// connections take; `reload` reads the files again.
///
/// ## Rotation
/// Certificates are replaced by writing new files (or re-pointing the symlinks a Kubernetes
/// Secret volume uses) and then sending SIGHUP, or by waiting for the periodic check
/// (`TLSCredentialWatcher`), which notices a changed file. Connections opened afterwards use the
/// new files; open connections keep the session they negotiated. A reload that fails (a key that
/// does not match, a half-written file) keeps the previous context and is counted: rotation never
/// takes a running member off the network.
public final class TLSCredentials: Sendable {
    public let port: TLSPort
    public let role: TLSRole
    public let files: TLSFiles
    private let observer: any TLSObserver
    private let validate: (@Sendable (NIOSSLCertificate?) throws -> Void)?
    private let state: NIOLockedValueBox<Loaded>

    struct Loaded: Sendable {
        var context: NIOSSLContext
        var leaf: NIOSSLCertificate?
        var stamps: [FileStamp]
    }

    /// Reads the files; throws `TLSSetupError` saying which file and why if they cannot be used.
    /// `validate` checks this side's certificate at every load (a member's id, say): a reload
    /// whose certificate it refuses fails like one with an unreadable file.
    public init(
        port: TLSPort, role: TLSRole, files: TLSFiles, observer: any TLSObserver = NoopTLSObserver(),
        validate: (@Sendable (NIOSSLCertificate?) throws -> Void)? = nil
    ) throws {
        self.port = port
        self.role = role
        self.files = files
        self.observer = observer
        self.validate = validate
        let loaded = try Self.load(role: role, files: files, stamps: files.paths.map(FileStamp.init(path:)))
        try validate?(loaded.leaf)
        self.state = NIOLockedValueBox(loaded)
        if let leaf = loaded.leaf { observer.certificateLoaded(port: port, notValidAfter: Int64(leaf.notValidAfter)) }
    }

    /// The context new connections use.
    public var context: NIOSSLContext { state.withLockedValue { $0.context } }

    /// This side's certificate (the first in the certificate file), if it has one.
    public var certificate: NIOSSLCertificate? { state.withLockedValue { $0.leaf } }

    /// Whether any of the files changed (size, modification time or inode) since the last load.
    public var filesChanged: Bool {
        let current = files.paths.map(FileStamp.init(path:))
        return state.withLockedValue { $0.stamps != current }
    }

    /// Reads the files again and, if they load, makes them the context of new connections.
    /// On failure the previous context stays and the error is thrown (and counted).
    public func reload() throws {
        // Stamped before reading: files replaced while being read are noticed again next time.
        let stamps = files.paths.map(FileStamp.init(path:))
        do {
            let loaded = try Self.load(role: role, files: files, stamps: stamps)
            try validate?(loaded.leaf)
            state.withLockedValue { $0 = loaded }
            if let leaf = loaded.leaf {
                observer.certificateLoaded(port: port, notValidAfter: Int64(leaf.notValidAfter))
            }
        } catch {
            // Do not read the same broken files again until they change.
            state.withLockedValue { $0.stamps = stamps }
            observer.certificateReloadFailed(port: port)
            throw error
        }
    }

    static func load(role: TLSRole, files: TLSFiles, stamps: [FileStamp]) throws -> Loaded {
        let chain = try files.certificateFile.map { try certificates(in: $0, what: "certificate") }
        let key = try files.keyFile.map { path in
            try readable(path, what: "private key")
            return try TLSSetupError.wrap("cannot read the private key in \(path)") {
                try NIOSSLPrivateKey(file: path, format: .pem)
            }
        }
        let trusted = try files.trustedCAFile.map { try certificates(in: $0, what: "trusted CA") }
        guard (chain == nil) == (key == nil) else {
            throw TLSSetupError("a certificate file needs its key file, and a key file its certificate file")
        }
        var configuration: TLSConfiguration
        switch role {
        case .server:
            guard let chain, let key else { throw TLSSetupError("a TLS server needs a certificate and a key file") }
            configuration = .makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            if let trusted {
                configuration.trustRoots = .certificates(trusted)
                configuration.certificateVerification = .noHostnameVerification
            }
        case .client:
            configuration = .makeClientConfiguration()
            if let trusted { configuration.trustRoots = .certificates(trusted) }
            if let chain, let key {
                configuration.certificateChain = chain.map { .certificate($0) }
                configuration.privateKey = .privateKey(key)
            }
            configuration.certificateVerification = .fullVerification
        }
        configuration.minimumTLSVersion = .tlsv12
        let context = try TLSSetupError.wrap("cannot set up TLS with these files") {
            try NIOSSLContext(configuration: configuration)
        }
        return Loaded(context: context, leaf: chain?.first, stamps: stamps)
    }

    /// Every PEM certificate in `path` (at least one).
    private static func certificates(in path: String, what: String) throws -> [NIOSSLCertificate] {
        try readable(path, what: what)
        let certificates = try TLSSetupError.wrap("cannot read the certificates in \(path)") {
            try NIOSSLCertificate.fromPEMFile(path)
        }
        guard !certificates.isEmpty else { throw TLSSetupError("no PEM certificate in \(path)") }
        return certificates
    }

    private static func readable(_ path: String, what: String) throws {
        guard access(path, R_OK) == 0 else {
            throw TLSSetupError("cannot read the \(what) file \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// What identifies a file's contents cheaply: a rotation changes at least one of these.
struct FileStamp: Sendable, Hashable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var size: Int64 = -1
    var modified: Int = 0
    var modifiedNanoseconds: Int = 0

    init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }
}

/// Files that cannot be used for TLS, said so that an operator knows which flag to fix.
public struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    static func wrap<T>(_ message: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TLSSetupError {
            throw error
        } catch {
            throw TLSSetupError("\(message): \(error)")
        }
    }
}
