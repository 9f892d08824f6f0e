import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import RaftChaos
import RaftCore
import RaftMessages
import RaftTLS
import RaftTransport
import RaftWire
import Testing

/// Counts what the TLS layer reports, by "port/event/reason".
final class RecordingTLSObserver: TLSObserver {
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    func count(_ key: String) -> Int { counts.withLockedValue { $0[key] ?? 0 } }
    private func add(_ key: String) { counts.withLockedValue { $0[key, default: 0] += 1 } }

    func handshakeCompleted(port: TLSPort) { add("\(port.rawValue)/completed") }
    func handshakeFailed(port: TLSPort, reason: TLSHandshakeFailure) { add("\(port.rawValue)/failed/\(reason.rawValue)") }
    func identityRefused(port: TLSPort, reason: TLSIdentityRefusal) { add("\(port.rawValue)/refused/\(reason.rawValue)") }
    func certificateLoaded(port: TLSPort, notValidAfter: Int64) {}
    func certificateReloadFailed(port: TLSPort) {}
}

/// Mutual TLS between members at the transport (README, "Transport security"): certificates
/// made at test time by deploy/certs.sh.
@Suite struct PeerTLSTests {
    let certificates: ClusterCertificates

    init() throws {
        certificates = try ClusterCertificates(
            members: 3,
            in: FileManager.default.temporaryDirectory.appendingPathComponent("raft-peer-tls-\(UUID().uuidString)"))
    }

    func peerTLS(member id: UInt64, observer: RecordingTLSObserver, name: String? = nil) throws -> PeerTLS {
        let name = name ?? "member-\(id)"
        let files = TLSFiles(
            certificateFile: certificates.certificate(name), keyFile: certificates.key(name), trustedCAFile: certificates.ca)
        func endpoint(_ role: TLSRole) throws -> TLSEndpoint {
            TLSEndpoint(
                credentials: try TLSCredentials(port: .peer, role: role, files: files), observer: observer,
                logger: quietLogger, handshakeTimeout: .seconds(2))
        }
        return PeerTLS(server: try endpoint(.server), client: try endpoint(.client))
    }

    @Test func membersExchangeRequestsAndResponsesOverMutualTLS() async throws {
        let observer1 = RecordingTLSObserver()
        let observer2 = RecordingTLSObserver()
        let node2 = TestNode.make(id: 2, peers: [:]) { $0.tls = try? peerTLS(member: 2, observer: observer2) }
        try await node2.start()
        let node1 = TestNode.make(id: 1, peers: [2: node2.address]) { $0.tls = try? peerTLS(member: 1, observer: observer1) }
        try await node1.start()
        node1.send(appendRequest(from: 1, prevLogIndex: 7), to: 2)
        #expect(try await eventually { node1.messages(from: 2).map { tag($0.body) } == ["append 7"] })
        #expect(node2.messages(from: 1).map { tag($0.body) } == ["append 7"])
        #expect(observer1.count("peer/completed") == 1 && observer2.count("peer/completed") == 1)
        await node1.stop()
        await node2.stop()
    }

    @Test func aDialledAddressServingAnotherMembersCertificateGetsNoRequest() async throws {
        let observer1 = RecordingTLSObserver()
        let observer3 = RecordingTLSObserver()
        let node3 = TestNode.make(id: 3, peers: [:]) { $0.tls = try? peerTLS(member: 3, observer: observer3) }
        try await node3.start()
        // Member 1 believes member 2 is at member 3's address (stale configuration, reused address).
        let node1 = TestNode.make(id: 1, peers: [2: node3.address]) { $0.tls = try? peerTLS(member: 1, observer: observer1) }
        try await node1.start()
        node1.send(appendRequest(from: 1, prevLogIndex: 7), to: 2)
        #expect(try await eventually { observer1.count("peer/refused/unexpected_member") >= 1 })
        try await Task.sleep(for: .milliseconds(200))
        #expect(node3.received.withLockedValue { $0 }.isEmpty)
        await node1.stop()
        await node3.stop()
    }

    /// The member answering at member 2's address holds member 3's (valid) certificate and
    /// sends a forged response as member 2 in the same flight as its handshake: nothing of it
    /// may reach the node, however fast it comes. (TLS 1.2: there the server's last handshake
    /// message and its first data leave together, so the dialler decodes the data right after
    /// the handshake completes, before its check of the certificate has closed the connection.)
    @Test func framesOfADialledMemberWithAnotherMembersCertificateNeverReachTheNode() async throws {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.certificate("member-3")).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.key("member-3"), format: .pem)))
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificates.ca))
        configuration.certificateVerification = .noHostnameVerification
        configuration.maximumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ForgedResponder())
                }
            }
            .bind(host: loopback, port: 0).get()
        let observer1 = RecordingTLSObserver()
        let address = PeerAddress(host: loopback, port: server.localAddress!.port!)
        let node1 = TestNode.make(id: 1, peers: [2: address]) { $0.tls = try? peerTLS(member: 1, observer: observer1) }
        try await node1.start()
        node1.send(appendRequest(from: 1, prevLogIndex: 7), to: 2)
        #expect(try await eventually { observer1.count("peer/refused/unexpected_member") >= 1 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(node1.received.withLockedValue { $0 }.isEmpty, "a forged response reached the node")
        await node1.stop()
        try await server.close()
    }

    @Test func aMemberWhoseCertificateDoesNotNameTheAddressDialledIsNotTrusted() async throws {
        // member-2's certificate names a host name only; member 1 dials 127.0.0.1.
        try certificates.makeMember(2, name: "member-2-elsewhere", hosts: "raft-2.example")
        let observer1 = RecordingTLSObserver()
        let node2 = TestNode.make(id: 2, peers: [:]) {
            $0.tls = try? peerTLS(member: 2, observer: RecordingTLSObserver(), name: "member-2-elsewhere")
        }
        try await node2.start()
        let node1 = TestNode.make(id: 1, peers: [2: node2.address]) { $0.tls = try? peerTLS(member: 1, observer: observer1) }
        try await node1.start()
        node1.send(appendRequest(from: 1, prevLogIndex: 7), to: 2)
        #expect(try await eventually { observer1.count("peer/failed/hostname_mismatch") >= 1 })
        #expect(node2.received.withLockedValue { $0 }.isEmpty)
        await node1.stop()
        await node2.stop()
    }

    @Test func aTLSHelloOnAPlaintextPeerPortIsNamedAsSuch() {
        // A ClientHello record starts 16 03 01 (handshake, TLS 1.x), then its 2-byte length.
        let hello = InboundRejection.badFrame(.tooLarge(length: 0x1603_0105, maximum: 16 << 20))
        #expect(hello.description.contains("TLS on a plaintext peer port"))
        let garbage = InboundRejection.badFrame(.tooLarge(length: 0x2000_0000, maximum: 16 << 20))
        #expect(!garbage.description.contains("TLS"))
    }

    @Test func aPlaintextMemberAndATLSMemberNeverExchangeAMessage() async throws {
        let observer = RecordingTLSObserver()
        let secured = TestNode.make(id: 2, peers: [:]) { $0.tls = try? peerTLS(member: 2, observer: observer) }
        try await secured.start()
        let plain = TestNode.make(id: 1, peers: [2: secured.address])
        try await plain.start()
        plain.send(appendRequest(from: 1, prevLogIndex: 7), to: 2)
        #expect(try await eventually { observer.count("peer/failed/not_tls") >= 1 })
        // The other way: a TLS member dialling a plaintext one fails its handshake.
        let dialler = RecordingTLSObserver()
        let plainServer = TestNode.make(id: 3, peers: [:])
        try await plainServer.start()
        let tlsClient = TestNode.make(id: 1, peers: [3: plainServer.address]) { $0.tls = try? peerTLS(member: 1, observer: dialler) }
        try await tlsClient.start()
        tlsClient.send(appendRequest(from: 1, prevLogIndex: 8), to: 3)
        #expect(
            try await eventually {
                TLSHandshakeFailure.allCases.map { dialler.count("peer/failed/\($0.rawValue)") }.reduce(0, +) >= 1
            })
        #expect(dialler.count("peer/completed") == 0)
        #expect(secured.received.withLockedValue { $0 }.isEmpty)
        #expect(plainServer.received.withLockedValue { $0 }.isEmpty)
        for node in [secured, plain, plainServer, tlsClient] { await node.stop() }
    }
}

/// Sends a response as member 2 (term 10^6) the moment its TLS handshake completes.
final class ForgedResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            var buffer = context.channel.allocator.buffer(capacity: 128)
            for id in UInt64(1)...3 {
                let envelope = Envelope(
                    clusterID: clusterID, fromID: 2, toID: 1, id: id,
                    body: .appendEntriesResponse(
                        AppendEntriesResponse(term: 1_000_000, success: true, matchIndex: 7, prevLogIndex: 7)))
                try? WireCodec().encodeFrame(envelope, into: &buffer)
            }
            context.writeAndFlush(NIOAny(buffer), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
