import RaftMessages

/// One peer RPC with its routing, as the core emits and accepts it. `body` is one of the six
/// `raft.proto` messages; the driver maps `from`/`to` onto `Envelope.from_id`/`to_id`.
public struct Message: Sendable, Hashable {
    public var from: UInt64
    public var to: UInt64
    public var body: RaftMessage

    public init(from: UInt64, to: UInt64, body: RaftMessage) {
        self.from = from
        self.to = to
        self.body = body
    }

    /// The sender's term (every Raft RPC carries one).
    public var term: UInt64 { body.term }
}
