/// A set of operations a partial linearization has placed, as a bitset over operation slots
/// (in invoke order), with an incrementally kept hash.
///
/// The search memoises the configurations it explored, so it keeps millions of sets. Because it
/// places answered operations roughly in invoke order, their set is almost always "every slot
/// below some index, and a few just above it": a `Snapshot` stores only the words from the
/// first one that is not full to the last one that is not empty, usually a single word.
struct LinearizedSet {
    /// An immutable copy of the set, compact and cheap to compare.
    struct Snapshot: Equatable {
        var hash: UInt64
        /// Words below it are full.
        var firstNotFull: Int32
        var first: UInt64
        /// The words after `first` up to the last that is not empty.
        var rest: [UInt64]
    }

    private var words: [UInt64]
    /// Words below it are full; the word at it (if any) is not.
    private var firstNotFull = 0
    /// -1 when the set is empty.
    private var lastNonEmpty = -1
    /// XOR of `key(of:)` of every member (Zobrist hashing), so insert and remove are O(1).
    private var hash: UInt64 = 0
    /// Distinguishes the hashes of different sets of one configuration.
    private let seed: UInt64

    init(capacity: Int, seed: UInt64) {
        words = Array(repeating: 0, count: (capacity + 63) / 64)
        self.seed = seed
    }

    mutating func insert(_ slot: Int) {
        let word = slot >> 6
        words[word] |= 1 << UInt64(slot & 63)
        hash ^= key(of: slot)
        if word > lastNonEmpty { lastNonEmpty = word }
        while firstNotFull < words.count && words[firstNotFull] == .max { firstNotFull += 1 }
    }

    mutating func remove(_ slot: Int) {
        let word = slot >> 6
        words[word] &= ~(1 << UInt64(slot & 63))
        hash ^= key(of: slot)
        if word < firstNotFull { firstNotFull = word }
        while lastNonEmpty >= 0 && words[lastNonEmpty] == 0 { lastNonEmpty -= 1 }
    }

    var snapshot: Snapshot {
        Snapshot(
            hash: hash, firstNotFull: Int32(firstNotFull),
            first: firstNotFull < words.count ? words[firstNotFull] : 0,
            rest: lastNonEmpty > firstNotFull ? Array(words[(firstNotFull + 1)...lastNonEmpty]) : [])
    }

    /// Independent pseudo-random 64-bit keys for slots.
    private func key(of slot: Int) -> UInt64 {
        mix(UInt64(slot) &+ seed)
    }
}

/// splitmix64's finaliser: a good 64-bit mix.
func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}
