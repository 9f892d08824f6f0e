import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A scraped metrics page: `name{labels}` → value, as Prometheus text format writes them.
struct MetricsPage {
    let text: String
    let samples: [String: Double]

    init(text: String) {
        self.text = text
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    subscript(_ key: String) -> Double? { samples[key] }

    /// Sum over every series of a family whose labels contain all of `matching`.
    func sum(_ name: String, _ matching: [String] = []) -> Double {
        samples.filter { key, _ in
            (key == name || key.hasPrefix(name + "{")) && matching.allSatisfy { key.contains($0) }
        }.values.reduce(0, +)
    }
}

/// Minimal HTTP/1.0 GET over a plain socket (no dependency on FoundationNetworking).
func httpGet(port: Int, path: String) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ClusterFailure(description: "socket failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw ClusterFailure(description: "connect to \(port) failed: errno \(errno)") }
    let request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
        if n <= 0 { break }
        response += buffer[..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let headerEnd = text.range(of: "\r\n\r\n"), let statusLine = text.split(separator: "\r\n").first else {
        throw ClusterFailure(description: "no HTTP response from \(port)")
    }
    let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, String(text[headerEnd.upperBound...]))
}

extension ProcessCluster {
    /// The metrics page of member `id` of a TLS cluster, over HTTPS.
    func securedMetrics(_ id: Int) async throws -> MetricsPage {
        guard let certificates else { return try metrics(id) }
        let (status, body) = try await httpsGet(
            port: ports[id]!.metrics, path: "/metrics", tls: certificates.clientTLS(nil), group: group)
        guard status == 200 else { throw ClusterFailure(description: "/metrics of member \(id) answered \(status)") }
        return MetricsPage(text: body)
    }

    func metrics(_ id: Int) throws -> MetricsPage {
        let (status, body) = try httpGet(port: ports[id]!.metrics, path: "/metrics")
        guard status == 200 else { throw ClusterFailure(description: "/metrics of member \(id) answered \(status)") }
        return MetricsPage(text: body)
    }
}

/// Runs a command, returning its exit status and combined output; killed (SIGKILL) if it runs
/// longer than `timeLimit` seconds.
func run(
    _ executable: String, _ arguments: [String], stdin: String = "", timeLimit: Double = 120
) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let pid = process.processIdentifier
    DispatchQueue.global().asyncAfter(deadline: .now() + timeLimit) { [process] in
        if process.isRunning { kill(pid, SIGKILL) }
    }
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
