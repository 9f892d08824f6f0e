import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback ports for members to listen on, for tests and the fault suite that start real
/// processes.
public enum LoopbackPorts {
    /// Why no port could be found.
    public struct Exhausted: Error, CustomStringConvertible {
        public var description: String { "no free loopback port found in 20000..<32000" }
    }

    /// `count` free ports, below the kernel's ephemeral range (32768 and up by default): a port
    /// the kernel hands out for `bind(0)` is released before the member binds it, and meanwhile
    /// any outgoing connection may take it as its local port ("Address already in use"). Ports
    /// are chosen at random and each is checked free by binding it. A port is handed out once
    /// per process: clusters started side by side never share one, even while a member is down
    /// and its port unbound (a member of another cluster on it would redirect our clients to
    /// that cluster).
    public static func free(_ count: Int) throws -> [Int] {
        try handedOut.withLockedValue { handedOut in
            let ports = try find(count, excluding: handedOut)
            handedOut.formUnion(ports)
            return ports
        }
    }

    private static let handedOut = NIOLockedValueBox<Set<Int>>([])

    private static func find(_ count: Int, excluding handedOut: Set<Int>) throws -> [Int] {
        var ports: [Int] = []
        var sockets: [Int32] = []
        defer { for s in sockets { close(s) } }
        var attempts = 0
        while ports.count < count {
            attempts += 1
            guard attempts < 10_000 else { throw Exhausted() }
            let port = Int.random(in: 20_000..<32_000)
            guard !ports.contains(port), !handedOut.contains(port) else { continue }
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) }
            }
            guard bound == 0 else {
                close(s)
                continue
            }
            sockets.append(s)
            ports.append(port)
        }
        return ports
    }
}
