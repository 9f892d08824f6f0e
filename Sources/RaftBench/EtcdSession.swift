import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import RaftTLS

/// A worker's session with etcd through its v3 JSON gateway: one HTTP/1.1 keep-alive connection
/// (requests may be pipelined; HTTP/1.1 answers come back in order). Writes are
/// `POST /v3/kv/put`, reads `POST /v3/kv/range` (linearizable: etcd's default, serializable
/// false). An etcd follower forwards a write to its leader, so any member can take it.
///
/// With `--cacert` the connection is HTTPS (etcd serves its gateway on the client URL, TLS
/// included), presenting the client certificate of `--cert` to a member that runs with
/// `--client-cert-auth`.
final class EtcdSession: LoopDrivenSession {
    let endpoint: String
    private let channel: any Channel
    private let host: String
    /// Why the server ended the connection, when it refused this client's certificate: what a
    /// call written afterwards fails with.
    private let refusal: NIOLockedValueBox<BenchTLSError?>

    private init(endpoint: String, host: String, channel: any Channel, refusal: NIOLockedValueBox<BenchTLSError?>) {
        self.endpoint = endpoint
        self.host = host
        self.channel = channel
        self.refusal = refusal
    }

    /// Connects to `endpoint` (`host:port`, `http://` or `https://` in front allowed); with
    /// `tls`, completes the handshake first (a failure throws `BenchTLSError`).
    static func connect(to endpoint: String, group: any EventLoopGroup, tls: TLSEndpoint? = nil) async throws -> EtcdSession {
        let (host, port) = try splitEndpoint(endpoint)
        let security = BenchTLSConnection(tls: tls, endpoint: endpoint, host: host)
        let refusal = NIOLockedValueBox<BenchTLSError?>(nil)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try security.addHandlers(to: channel)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPPipelineHandler(endpoint: endpoint, refusal: refusal))
                }
            }
            .connect(host: host, port: port)
            .get()
        try await security.waitForHandshake(of: channel)
        return EtcdSession(endpoint: endpoint, host: host, channel: channel, refusal: refusal)
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    func issue(_ operation: BenchOperation) -> EventLoopFuture<Void> {
        let path: String
        let body: String
        switch operation {
        case .put(let key, let value):
            path = "/v3/kv/put"
            body = "{\"key\":\"\(Base64.encode(key))\",\"value\":\"\(Base64.encode(value))\"}"
        case .get(let key):
            path = "/v3/kv/range"
            body = "{\"key\":\"\(Base64.encode(key))\"}"
        }
        return call(path, body: body).flatMapThrowing { answer in
            guard answer.status == .ok else {
                throw BenchFailure(description: "\(path): HTTP \(answer.status.code) \(oneLine(answer.body))")
            }
        }
    }

    /// `POST /v3/maintenance/status`: the JSON answer (member id and leader id inside).
    func status() async throws -> String {
        let (status, text) = try await post("/v3/maintenance/status", body: "{}")
        guard status == .ok else { throw BenchFailure(description: "status: HTTP \(status.code) \(oneLine(text))") }
        return text
    }

    func post(_ path: String, body: String) async throws -> (HTTPResponseStatus, String) {
        let answer = try await call(path, body: body).get()
        return (answer.status, answer.body)
    }

    private func call(_ path: String, body: String) -> EventLoopFuture<HTTPPipelineHandler.Answer> {
        var buffer = channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        let promise = channel.eventLoop.makePromise(of: HTTPPipelineHandler.Answer.self)
        // A call written after the connection closed never reaches the handler (it is gone from
        // the pipeline): fail it here, or its worker would wait forever. (A call the handler did
        // take is failed by it as well; the second completion is ignored.)
        channel.writeAndFlush(HTTPPipelineHandler.Call(head: head, body: buffer, promise: promise)).whenFailure {
            [refusal] error in
            promise.fail(refusal.withLockedValue { $0 } ?? error)
        }
        return promise.futureResult
    }

    func close() async {
        try? await channel.close()
    }
}

/// Sends calls as HTTP/1.1 requests and completes their promises in order with the answers.
private final class HTTPPipelineHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Call
    typealias OutboundOut = HTTPClientRequestPart

    struct Call: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer
        var promise: EventLoopPromise<Answer>
    }

    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var body: String
    }

    private let endpoint: String
    private let refusal: NIOLockedValueBox<BenchTLSError?>
    private var waiting = CircularBuffer<EventLoopPromise<Answer>>()
    private var status: HTTPResponseStatus = .ok
    private var body = ""

    init(endpoint: String, refusal: NIOLockedValueBox<BenchTLSError?>) {
        self.endpoint = endpoint
        self.refusal = refusal
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = Self.unwrapOutboundIn(data)
        guard context.channel.isActive else {
            call.promise.fail(ChannelError.ioOnClosedChannel)
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        waiting.append(call.promise)
        context.write(Self.wrapOutboundOut(.head(call.head)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(call.body))), promise: nil)
        context.write(Self.wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body = ""
        case .body(var buffer):
            body += buffer.readString(length: buffer.readableBytes) ?? ""
        case .end:
            if let promise = waiting.popFirst() {
                promise.succeed(Answer(status: status, body: body))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(refusal.withLockedValue { $0 } ?? ChannelError.eof)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A server that refuses this client's certificate says so with an alert (TLS 1.3: after
        // the handshake, on the first read).
        if let refused = BenchTLSError(alert: error, endpoint: endpoint) {
            refusal.withLockedValue { $0 = $0 ?? refused }
            failAll(refused)
        } else {
            failAll(error)
        }
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}

/// The first 200 characters of an answer's body, its line breaks as spaces (for a one-line error).
private func oneLine(_ text: String) -> String {
    String(text.prefix(200).map { $0.isNewline ? " " : $0 })[...].trimmingCharacters()
}

/// `host:port` or `[v6]:port`, with an optional `http://` or `https://` in front (etcd's client
/// URLs); whether to speak TLS is `--cacert`'s to say, not the scheme's.
func splitEndpoint(_ endpoint: String) throws -> (String, Int) {
    var e = Substring(endpoint)
    if e.hasPrefix("http://") { e = e.dropFirst(7) } else if e.hasPrefix("https://") { e = e.dropFirst(8) }
    guard let colon = e.lastIndex(of: ":"), let port = Int(e[e.index(after: colon)...]) else {
        throw BenchFailure(description: "bad endpoint '\(endpoint)': expected host:port")
    }
    var host = String(e[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host, port)
}

/// Standard base64 (RFC 4648) with padding, as the gateway's JSON wants for bytes fields.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
