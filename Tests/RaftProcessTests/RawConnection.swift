import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import RaftTLS

/// One connection to a member's port opened the way an attacker or a misconfigured peer would:
/// plain TCP or TLS with whatever certificate, some bytes sent, and whatever comes back until the
/// member closes the connection or the time is up.
enum RawConnection {
    struct Outcome {
        /// With TLS: nil if the handshake completed, else why it failed.
        var handshakeFailure: (any Error)?
        /// With TLS: the certificate the member presented.
        var certificate: NIOSSLCertificate?
        var received: [UInt8] = []
        /// The member closed the connection (rather than the time running out).
        var closedByMember = false
        var elapsed: Duration = .zero
    }

    static func exchange(
        port: Int, tls: TLSEndpoint? = nil, send bytes: [UInt8] = [], waitingAtMost seconds: Double,
        group: any EventLoopGroup
    ) async throws -> Outcome {
        let start = ContinuousClock.now
        let closed = group.next().makePromise(of: Void.self)
        let received = NIOLockedValueBox<[UInt8]>([])
        let handshake = TLSClientHandshake(tls: tls, serverHost: "127.0.0.1")
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try handshake.addHandlers(to: channel)
                    try channel.pipeline.syncOperations.addHandler(Collector(received: received, closed: closed))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        var outcome = Outcome()
        do {
            outcome.certificate = try await handshake.wait(closingOnFailure: channel)?.certificate
        } catch {
            outcome.handshakeFailure = error
        }
        if outcome.handshakeFailure == nil, !bytes.isEmpty {
            try? await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
        }
        let timer = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            closed.fail(TimedOut())
        }
        do {
            try await closed.futureResult.get()
            outcome.closedByMember = true
        } catch {
            outcome.closedByMember = false
        }
        timer.cancel()
        try? await channel.close()
        outcome.received = received.withLockedValue { $0 }
        outcome.elapsed = ContinuousClock.now - start
        return outcome
    }

    struct TimedOut: Error {}

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>
        let closed: EventLoopPromise<Void>

        init(received: NIOLockedValueBox<[UInt8]>, closed: EventLoopPromise<Void>) {
            self.received = received
            self.closed = closed
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            received.withLockedValue { $0 += bytes }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.succeed(())
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

/// GET `path` over HTTPS (HTTP/1.0, read until the server closes), trusting `tls`'s CA.
func httpsGet(port: Int, path: String, tls: TLSEndpoint, group: any EventLoopGroup) async throws -> (status: Int, body: String) {
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    let outcome = try await RawConnection.exchange(port: port, tls: tls, send: request, waitingAtMost: 5, group: group)
    if let failure = outcome.handshakeFailure { throw ClusterFailure(description: "HTTPS to \(port): \(failure)") }
    let text = String(decoding: outcome.received, as: UTF8.self)
    guard let headerEnd = text.firstRange(of: "\r\n\r\n"), let statusLine = text.split(separator: "\r\n").first else {
        throw ClusterFailure(description: "no HTTP response from \(port)")
    }
    let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, String(text[headerEnd.upperBound...]))
}
