/// The `LinearizabilityChecker`'s judgement of a whole history.
public enum Verdict: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Every key's operations have a linearization.
    case linearizable
    /// These keys (at least one, sorted by key) have none: the store broke linearizability. Keys
    /// the checker could not decide within its budget are not listed; a single bad key is
    /// enough to condemn the history.
    case notLinearizable([KeyAnomaly])
    /// No key is known bad, but the history was malformed or some key could not be decided
    /// within the step budget; the reason says which.
    case unknown(String)

    public var isLinearizable: Bool { self == .linearizable }

    /// The anomalies of a `notLinearizable` verdict; empty otherwise.
    public var anomalies: [KeyAnomaly] {
        if case .notLinearizable(let anomalies) = self { anomalies } else { [] }
    }

    public var description: String {
        switch self {
        case .linearizable: "linearizable"
        case .notLinearizable(let anomalies):
            "not linearizable (keys \(anomalies.map(\.key).joined(separator: ", ")))\n"
                + anomalies.map(\.explanation).joined(separator: "\n")
        case .unknown(let reason): "unknown: \(reason)"
        }
    }
}

/// Why one key's operations have no linearization, as far as the search can tell cheaply: the
/// longest partial linearization it found, and the operation that could not follow it.
public struct KeyAnomaly: Sendable, Hashable, Codable, CustomStringConvertible {
    public var key: String
    /// Ids of every operation on the key, in invoke order (failed ones included).
    public var operations: [Int]
    /// Ids of the longest linearizable prefix the search found, in linearization order. A
    /// prefix of *some* order; other orders of the concurrent operations may be as long.
    public var longestPrefix: [Int]
    /// The register after `longestPrefix` (`nil`: the key is absent).
    public var valueAfterPrefix: String?
    /// The operation whose answer was due (its completion came) but which could not be
    /// linearized after `longestPrefix`; usually the one that observed the impossible.
    public var blockingOperation: Int?
    /// One paragraph for people: the prefix, the value, the blocking operation and why it fails.
    public var explanation: String

    public init(
        key: String, operations: [Int], longestPrefix: [Int], valueAfterPrefix: String?,
        blockingOperation: Int?, explanation: String
    ) {
        self.key = key
        self.operations = operations
        self.longestPrefix = longestPrefix
        self.valueAfterPrefix = valueAfterPrefix
        self.blockingOperation = blockingOperation
        self.explanation = explanation
    }

    public var description: String { explanation }
}
