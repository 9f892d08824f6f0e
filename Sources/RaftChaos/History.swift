#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request a client sent to the key-value store. Every call touches exactly one key, which is
/// what lets the checker judge each key on its own.
public enum KVCall: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Sets `key` to `value`.
    case put(key: String, value: String)
    /// A linearizable read: answers the current value, or "not found".
    case get(key: String)
    /// Removes `key`; succeeds whether or not the key was there.
    case delete(key: String)
    /// Sets `key` to `new` if its current value is `expected` (`nil`: if the key is absent);
    /// otherwise answers "cas failed" and changes nothing.
    case cas(key: String, expected: String?, new: String)

    /// The one key the call touches.
    public var key: String {
        switch self {
        case .put(let key, _), .get(let key), .delete(let key), .cas(let key, _, _): key
        }
    }

    /// `put k3=v17`, `get k3`, `delete k3`, `cas k1 v2→v3` (`∅` for an absent key).
    public var description: String {
        switch self {
        case .put(let key, let value): "put \(key)=\(value)"
        case .get(let key): "get \(key)"
        case .delete(let key): "delete \(key)"
        case .cas(let key, let expected, let new): "cas \(key) \(expected ?? "∅")→\(new)"
        }
    }

    // A flat, readable JSON shape for saved histories: {"f":"cas","key":"k","expected":null,"new":"v"}.
    private enum CodingKeys: String, CodingKey { case f, key, value, expected, new }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let key = try container.decode(String.self, forKey: .key)
        switch try container.decode(String.self, forKey: .f) {
        case "put": self = .put(key: key, value: try container.decode(String.self, forKey: .value))
        case "get": self = .get(key: key)
        case "delete": self = .delete(key: key)
        case "cas":
            self = .cas(
                key: key, expected: try container.decodeIfPresent(String.self, forKey: .expected),
                new: try container.decode(String.self, forKey: .new))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .f, in: container, debugDescription: "unknown call '\(other)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
        switch self {
        case .put(_, let value):
            try container.encode("put", forKey: .f)
            try container.encode(value, forKey: .value)
        case .get:
            try container.encode("get", forKey: .f)
        case .delete:
            try container.encode("delete", forKey: .f)
        case .cas(_, let expected, let new):
            try container.encode("cas", forKey: .f)
            // An explicit null: "expected absent" is a real value, not a missing field.
            if let expected { try container.encode(expected, forKey: .expected) } else {
                try container.encodeNil(forKey: .expected)
            }
            try container.encode(new, forKey: .new)
        }
    }
}

/// What the client learned about its call.
///
/// The difference between `failed` and `unknown` is what the checker relies on most: `failed`
/// is a promise that the operation had no effect, `unknown` promises nothing.
public enum KVOutcome: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A put, delete or successful cas was applied.
    case ok
    /// A get's answer: the value, or `nil` for "not found".
    case value(String?)
    /// A cas found a value other than the expected one and changed nothing.
    case casFailed
    /// Definitely not applied: the server refused the request before applying it (not the
    /// leader, bad request, ...). The checker removes such operations from the history.
    case failed
    /// No answer: a timeout, a lost connection, or an answer that never came. The operation
    /// may or may not have been applied, possibly long after the client gave up, so the
    /// checker lets it take effect at any time after its invoke, or never.
    case unknown

    /// The case's name, for messages where the label would be ambiguous.
    var name: String {
        switch self {
        case .ok: "ok"
        case .value: "value"
        case .casFailed: "casFailed"
        case .failed: "failed"
        case .unknown: "unknown"
        }
    }

    /// `ok`, the value read (`not found` for nil), `failed` for a cas that did not match,
    /// `error` for a refused request and `unknown`.
    public var description: String {
        switch self {
        case .ok: "ok"
        case .value(let value): value ?? "not found"
        case .casFailed: "failed"
        case .failed: "error (not applied)"
        case .unknown: "unknown"
        }
    }

    // {"type":"ok"}, {"type":"value","value":"v1"}, {"type":"value","value":null}, ...
    private enum CodingKeys: String, CodingKey { case type, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "ok": self = .ok
        case "value": self = .value(try container.decodeIfPresent(String.self, forKey: .value))
        case "casFailed": self = .casFailed
        case "failed": self = .failed
        case "unknown": self = .unknown
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown outcome '\(other)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .ok: try container.encode("ok", forKey: .type)
        case .value(let value):
            try container.encode("value", forKey: .type)
            if let value { try container.encode(value, forKey: .value) } else { try container.encodeNil(forKey: .value) }
        case .casFailed: try container.encode("casFailed", forKey: .type)
        case .failed: try container.encode("failed", forKey: .type)
        case .unknown: try container.encode("unknown", forKey: .type)
        }
    }
}

/// One client operation: when it was invoked, when (if ever) its answer came, and the answer.
public struct RecordedOperation: Sendable, Hashable, Codable, Identifiable, CustomStringConvertible {
    /// Unique within a history; the checker's diagnostics and the timeline name operations by it.
    public var id: Int
    /// The client (process, connection) that issued it; one lane in the timeline.
    public var client: Int
    public var call: KVCall
    /// Nanoseconds since the history started, read from a monotonic clock.
    public var invoke: UInt64
    /// Nanoseconds since the history started when the answer came or the client gave up; `nil`
    /// if the history ended first (then `outcome` is `.unknown`). The checker ignores it for
    /// `.unknown` outcomes, since such an operation may take effect later still.
    public var complete: UInt64?
    public var outcome: KVOutcome

    public init(id: Int, client: Int, call: KVCall, invoke: UInt64, complete: UInt64?, outcome: KVOutcome) {
        self.id = id
        self.client = client
        self.call = call
        self.invoke = invoke
        self.complete = complete
        self.outcome = outcome
    }

    /// `put k3=v17 → ok`, `get k3 → v12`, `cas k1 v2→v3 → failed`.
    public var description: String { "\(call) → \(outcome)" }
}

/// A recorded history of key-value operations, as a fault-injection run produces it and the
/// `LinearizabilityChecker` judges it. Operations may be in any order.
public struct KVHistory: Sendable, Hashable, Codable {
    public var operations: [RecordedOperation]

    public init(operations: [RecordedOperation] = []) {
        self.operations = operations
    }

    /// The distinct keys, sorted.
    public var keys: [String] { Set(operations.map(\.call.key)).sorted() }

    /// The latest time recorded (an invoke or a completion), in nanoseconds.
    public var end: UInt64 {
        operations.reduce(0) { max($0, $1.complete ?? $1.invoke, $1.invoke) }
    }

    /// What makes this history impossible to judge, one line each (empty: well formed):
    /// duplicate ids, completions before invokes, missing completions with a known outcome, and
    /// outcomes the call cannot have (a put that read a value, a get that answered `ok`, ...).
    public func validate() -> [String] {
        var problems: [String] = []
        var seen: Set<Int> = []
        for op in operations {
            if !seen.insert(op.id).inserted { problems.append("op \(op.id): duplicate id") }
            if let complete = op.complete, complete < op.invoke {
                problems.append("op \(op.id): completes at \(complete) ns, before its invoke at \(op.invoke) ns")
            }
            if op.complete == nil && op.outcome != .unknown {
                problems.append("op \(op.id): no completion time but outcome \(op.outcome.name)")
            }
            let fits: Bool =
                switch (op.call, op.outcome) {
                case (_, .failed), (_, .unknown): true
                case (.get, .value): true
                case (.put, .ok), (.delete, .ok), (.cas, .ok), (.cas, .casFailed): true
                default: false
                }
            if !fits { problems.append("op \(op.id): \(op.call) cannot answer \(op.outcome.name)") }
        }
        return problems
    }

    /// The history as JSON (operations sorted by id, keys sorted), to save and check again later.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(KVHistory(operations: operations.sorted { $0.id < $1.id }))
    }

    /// A history saved by `jsonData()`.
    public init(jsonData: Data) throws {
        self = try JSONDecoder().decode(KVHistory.self, from: jsonData)
    }

    /// Saves the history as JSON at `path`.
    public func write(toFile path: String) throws {
        try jsonData().write(to: URL(fileURLWithPath: path))
    }

    /// A history saved by `write(toFile:)`.
    public init(contentsOfFile path: String) throws {
        try self.init(jsonData: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
