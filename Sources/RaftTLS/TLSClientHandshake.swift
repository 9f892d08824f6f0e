import NIOConcurrencyHelpers
import NIOCore

/// The client side of one new connection's TLS, in the two places a NIO client touches it: add
/// the handlers in the channel initializer, then wait for the handshake once connected. Without
/// an endpoint both do nothing (plaintext).
public struct TLSClientHandshake: Sendable {
    public let tls: TLSEndpoint?
    public let serverHost: String
    private let outcome = NIOLockedValueBox<EventLoopFuture<TLSPeerAuthenticated>?>(nil)

    public init(tls: TLSEndpoint?, serverHost: String) {
        self.tls = tls
        self.serverHost = serverHost
    }

    /// Puts the TLS handler and its handshake guard first in `channel`'s pipeline. Call in the
    /// channel initializer, on the channel's event loop, before adding the connection's own
    /// handlers.
    public func addHandlers(to channel: any Channel) throws {
        guard let tls else { return }
        let done = try tls.addClientHandlers(to: channel, serverHost: serverHost)
        outcome.withLockedValue { $0 = done }
    }

    /// Waits for the handshake of the connected `channel` and returns what it authenticated (nil
    /// without TLS). A failure closes the channel and throws the `TLSHandshakeError`.
    @discardableResult
    public func wait(closingOnFailure channel: any Channel) async throws -> TLSPeerAuthenticated? {
        guard let done = outcome.withLockedValue({ $0 }) else { return nil }
        do {
            return try await done.get()
        } catch {
            try? await channel.close()
            throw error
        }
    }
}
