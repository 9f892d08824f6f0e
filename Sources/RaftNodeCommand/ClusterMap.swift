/// A member id → `host:port` map as written on the command line: `1=10.0.0.1:7001,2=...`.
struct ClusterMap: Hashable, Sendable {
    var addresses: [UInt64: (host: String, port: Int)]

    static func == (a: ClusterMap, b: ClusterMap) -> Bool {
        a.addresses.count == b.addresses.count
            && a.addresses.allSatisfy { id, address in b.addresses[id].map { $0 == address } ?? false }
    }

    func hash(into hasher: inout Hasher) {
        for id in addresses.keys.sorted() { hasher.combine(id) }
    }

    var ids: [UInt64] { addresses.keys.sorted() }

    func string(_ id: UInt64) -> String? {
        addresses[id].map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// Parses `ID=HOST:PORT` pairs separated by commas; ids are positive and unique, ports
    /// 1–65535, IPv6 hosts in brackets.
    init(parsing text: String) throws {
        var addresses: [UInt64: (host: String, port: Int)] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let id = UInt64(parts[0].trimmingSpaces), id > 0 else {
                throw ParseError(description: "'\(item)' is not ID=HOST:PORT with a positive id")
            }
            let address = try Self.address(String(parts[1].trimmingSpaces))
            guard addresses[id] == nil else { throw ParseError(description: "member \(id) is listed twice") }
            addresses[id] = address
        }
        guard !addresses.isEmpty else { throw ParseError(description: "no members") }
        self.addresses = addresses
    }

    static func address(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw ParseError(description: "'\(text)' is not HOST:PORT with a port from 1 to 65535")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ParseError(description: "'\(text)' has no host") }
        return (host, port)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
