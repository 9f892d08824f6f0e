import Atomics
import NIOConcurrencyHelpers
import NIOCore

/// A point-in-time copy of `TransportCounters`.
public struct TransportStatistics: Sendable, Hashable {
    public struct RPCFailureKey: Sendable, Hashable {
        public var rpc: RPCKind
        public var peer: UInt64
        public var reason: RPCFailure

        public init(rpc: RPCKind, peer: UInt64, reason: RPCFailure) {
            self.rpc = rpc
            self.peer = peer
            self.reason = reason
        }
    }

    public struct DropKey: Sendable, Hashable {
        public var peer: UInt64
        public var reason: DropReason

        public init(peer: UInt64, reason: DropReason) {
            self.peer = peer
            self.reason = reason
        }
    }

    public var framesSent = 0
    public var framesReceived = 0
    /// Requests this node sent, and requests it received, by kind.
    public var requestsSent: [RPCKind: Int] = [:]
    public var requestsReceived: [RPCKind: Int] = [:]
    public var bytesSent: [UInt64: Int] = [:]
    public var bytesReceived: [UInt64: Int] = [:]
    /// Rejected frames by `InboundRejection.label`.
    public var rejections: [String: Int] = [:]
    public var drops: [DropKey: Int] = [:]
    public var connects: [UInt64: Int] = [:]
    public var connectFailures: [UInt64: Int] = [:]
    public var disconnects: [UInt64: Int] = [:]
    public var reconnectsScheduled: [UInt64: Int] = [:]
    public var rpcFailures: [RPCFailureKey: Int] = [:]
    /// Completed RPCs (responses paired with their request) by kind.
    public var rpcCompletions: [RPCKind: Int] = [:]
    /// Sum of the latencies of `rpcCompletions`, by kind.
    public var rpcLatencyTotal: [RPCKind: TimeAmount] = [:]
    public var resynchronizations = 0

    public func rejections(_ label: String) -> Int { rejections[label, default: 0] }

    public func drops(reason: DropReason) -> Int {
        drops.filter { $0.key.reason == reason }.values.reduce(0, +)
    }

    public func drops(peer: UInt64, reason: DropReason) -> Int {
        drops[DropKey(peer: peer, reason: reason), default: 0]
    }

    public func rpcFailures(peer: UInt64, reason: RPCFailure) -> Int {
        rpcFailures.filter { $0.key.peer == peer && $0.key.reason == reason }.values.reduce(0, +)
    }
}

/// A `TransportObserver` that counts everything in memory: for tests, for `raftctl status`-like
/// diagnostics, and as the reference of what each event means. Frame counts are atomics (the
/// hot path); the keyed counters share one lock, held only to bump a dictionary entry.
public final class TransportCounters: TransportObserver {
    private let framesSentCount = ManagedAtomic<Int>(0)
    private let framesReceivedCount = ManagedAtomic<Int>(0)
    private let keyed = NIOLockedValueBox(TransportStatistics())

    public init() {}

    /// A consistent copy of the keyed counters with the current frame counts.
    public func snapshot() -> TransportStatistics {
        var copy = keyed.withLockedValue { $0 }
        copy.framesSent = framesSentCount.load(ordering: .relaxed)
        copy.framesReceived = framesReceivedCount.load(ordering: .relaxed)
        return copy
    }

    public func frameSent(to peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {
        framesSentCount.wrappingIncrement(ordering: .relaxed)
        keyed.withLockedValue {
            $0.bytesSent[peer, default: 0] += bytes
            if isRequest { $0.requestsSent[rpc, default: 0] += 1 }
        }
    }

    public func frameReceived(from peer: UInt64, rpc: RPCKind, isRequest: Bool, bytes: Int) {
        framesReceivedCount.wrappingIncrement(ordering: .relaxed)
        keyed.withLockedValue {
            $0.bytesReceived[peer, default: 0] += bytes
            if isRequest { $0.requestsReceived[rpc, default: 0] += 1 }
        }
    }

    public func rejected(_ rejection: InboundRejection, direction: ConnectionDirection) {
        keyed.withLockedValue { $0.rejections[rejection.label, default: 0] += 1 }
    }

    public func dropped(_ rpc: RPCKind, isRequest: Bool, peer: UInt64, reason: DropReason) {
        keyed.withLockedValue { $0.drops[.init(peer: peer, reason: reason), default: 0] += 1 }
    }

    public func connected(to peer: UInt64) {
        keyed.withLockedValue { $0.connects[peer, default: 0] += 1 }
    }

    public func connectFailed(to peer: UInt64) {
        keyed.withLockedValue { $0.connectFailures[peer, default: 0] += 1 }
    }

    public func disconnected(from peer: UInt64) {
        keyed.withLockedValue { $0.disconnects[peer, default: 0] += 1 }
    }

    public func reconnectScheduled(to peer: UInt64, failures: Int, delay: TimeAmount) {
        keyed.withLockedValue { $0.reconnectsScheduled[peer, default: 0] += 1 }
    }

    public func rpcCompleted(_ rpc: RPCKind, peer: UInt64, latency: TimeAmount) {
        keyed.withLockedValue {
            $0.rpcCompletions[rpc, default: 0] += 1
            $0.rpcLatencyTotal[rpc, default: .zero] = $0.rpcLatencyTotal[rpc, default: .zero] + latency
        }
    }

    public func rpcFailed(_ rpc: RPCKind, peer: UInt64, reason: RPCFailure) {
        keyed.withLockedValue { $0.rpcFailures[.init(rpc: rpc, peer: peer, reason: reason), default: 0] += 1 }
    }

    public func responsesResynchronized(peer: UInt64, discarded: Int) {
        keyed.withLockedValue { $0.resynchronizations += 1 }
    }
}
