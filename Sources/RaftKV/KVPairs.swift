/// The store's key-value pairs, split over a fixed number of dictionaries by key hash, so that a
/// copy taken for a snapshot costs the loop little later on: each dictionary is copy-on-write,
/// and the first write to one after a snapshot copies that shard only (1/256 of the pairs, and
/// only references: keys and values are shared buffers), not the whole table at once.
struct KVPairs: Sendable {
    static let shardCount = 256
    private var shards: [[[UInt8]: [UInt8]]]
    private(set) var count = 0

    init() {
        shards = Array(repeating: [:], count: Self.shardCount)
    }

    init(_ pairs: [[UInt8]: [UInt8]]) {
        self.init()
        for (key, value) in pairs { self[key] = value }
    }

    /// The high bits of the key's hash: a dictionary places keys by the low bits of its own
    /// (seeded) hash, so the shard choice does not crowd any table's buckets.
    @inline(__always)
    private static func shard(of key: [UInt8]) -> Int {
        Int(UInt(bitPattern: key.hashValue) >> (UInt.bitWidth - 8))
    }

    subscript(key: [UInt8]) -> [UInt8]? {
        get { shards[Self.shard(of: key)][key] }
        set {
            let shard = Self.shard(of: key)
            if let newValue {
                if shards[shard].updateValue(newValue, forKey: key) == nil { count += 1 }
            } else if shards[shard].removeValue(forKey: key) != nil {
                count -= 1
            }
        }
    }

    /// Calls `body` with every pair, shard by shard.
    func forEach(_ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Void) rethrows {
        for shard in shards {
            for (key, value) in shard { try body(key, value) }
        }
    }
}
