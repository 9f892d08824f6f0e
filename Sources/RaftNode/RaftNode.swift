import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore
import RaftMessages
import RaftStorage

/// A point-in-time view of a node, safe to read from anywhere.
public struct RaftNodeStatus: Sendable, Hashable {
    public var id: UInt64
    public var role: Role
    public var term: UInt64
    public var leaderID: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastIndex: UInt64
    public var snapshotIndex: UInt64
    /// The leader's commit index as last heard minus ours (0 on the leader).
    public var commitLag: UInt64 = 0
    /// On the leader: per follower (learners included), our last index minus its match index.
    public var followerLag: [UInt64: UInt64] = [:]
    /// The configuration this node has applied.
    public var configuration = Configuration()
    /// On the leader: the voter leadership is being handed to (0: none).
    public var leadTransferee: UInt64 = 0
    /// On the leader: the followers it is sending a snapshot to.
    public var snapshotTransfers: Set<UInt64> = []
}

/// One Raft member: the core (`RawNode`) driven by ticks, peer messages and proposals, with
/// its storage, state machine and outbound transport (etcd's `Node`, without goroutines).
///
/// Threading: everything that touches the core, the state machine or the storage's read side
/// runs on one event loop (`eventLoop`); public methods may be called from any thread and hop
/// there. Disk writes run on an I/O thread pool, never on the loop. While one `Ready`'s entries
/// are being written the core keeps stepping messages, ticks, proposals and reads, heartbeats
/// and the leader's appends leave at once, and everything that must wait for the disk (answers,
/// votes, applying) comes with the next `Ready` when the write completes: a slow disk makes
/// batches larger (group commit) instead of silencing the member.
/// Snapshots (§7) are written from a copy-on-write view of the state machine on the pool while
/// the loop keeps applying, and a leader's snapshot is rebuilt there before being swapped in.
public final class RaftNode<Machine: StateMachine>: Sendable {
    public let id: UInt64
    public let eventLoop: any EventLoop
    private let driver: NIOLoopBound<Driver<Machine>>
    private let appliedConfiguration: NIOLockedValueBox<Configuration>
    /// Peer messages handed to `receive` and not yet taken by the loop.
    private let queuedMessages = ManagedAtomic<Int>(0)
    /// Beyond this many queued peer messages, `receive` drops new ones (the loop is behind;
    /// Raft retransmits).
    public static var receiveQueueCapacity: Int { 8192 }

    /// Recovers the node from `storage` (term, vote, log and snapshot; the snapshot is restored
    /// into `machine`) and starts ticking. Call on any thread; returns once running. `ioPool`
    /// runs the storage writes and snapshots (at least two threads, so that a write does not
    /// wait for a snapshot being written).
    public static func start(
        configuration: RaftNodeConfiguration, storage: any DurableStorage, machine: Machine,
        sender: any MessageSender, eventLoop: any EventLoop, ioPool: NIOThreadPool, logger: Logger,
        observer: any RaftNodeObserver = NoopNodeObserver()
    ) async throws -> RaftNode {
        let box = UncheckedTransfer((storage, machine))
        let appliedConfiguration = NIOLockedValueBox(Configuration())
        return try await eventLoop.submit {
            let (storage, machine) = box.value
            let driver = try Driver(
                configuration: configuration, storage: storage, machine: machine, sender: sender,
                eventLoop: eventLoop, ioPool: ioPool, logger: logger, observer: observer,
                appliedConfiguration: appliedConfiguration)
            driver.startTicking()
            return RaftNode(
                id: configuration.id, eventLoop: eventLoop, driver: NIOLoopBound(driver, eventLoop: eventLoop),
                appliedConfiguration: appliedConfiguration)
        }.get()
    }

    private init(
        id: UInt64, eventLoop: any EventLoop, driver: NIOLoopBound<Driver<Machine>>,
        appliedConfiguration: NIOLockedValueBox<Configuration>
    ) {
        self.id = id
        self.eventLoop = eventLoop
        self.driver = driver
        self.appliedConfiguration = appliedConfiguration
    }

    /// The configuration this member has applied, readable from any thread without waiting for
    /// the node's loop (it may be a moment behind the loop's).
    public var configuration: Configuration {
        appliedConfiguration.withLockedValue { $0 }
    }

    /// Feeds a message received from a peer; returns false if it was dropped because
    /// `receiveQueueCapacity` messages are already waiting. Never processes synchronously: the
    /// message is queued for the node's loop, and messages arriving together are stepped
    /// together into one `Ready`.
    @discardableResult
    public func receive(_ message: Message) -> Bool {
        guard queuedMessages.loadThenWrappingIncrement(ordering: .relaxed) < Self.receiveQueueCapacity else {
            queuedMessages.wrappingDecrement(ordering: .relaxed)
            return false
        }
        eventLoop.execute {
            self.queuedMessages.wrappingDecrement(ordering: .relaxed)
            self.driver.value.receive(message)
        }
        return true
    }

    /// Proposes `data` for the log. Succeeds with the state machine's result once the entry is
    /// committed and applied here; fails with `RaftNodeError.notLeader` on a follower and with
    /// `.leadershipChanged` if another leader's entry took its place.
    public func propose(_ data: [UInt8]) -> EventLoopFuture<Machine.Result?> {
        let promise = eventLoop.makePromise(of: Machine.Result?.self)
        eventLoop.execute { self.driver.value.propose(data, promise: promise) }
        return promise.futureResult
    }

    /// Runs `body` on the node's loop with the state machine once it reflects every write
    /// acknowledged before this call: a linearizable read served by ReadIndex (thesis §6.4)
    /// without a trip through the log. Every member serves them (a follower or learner asks the
    /// leader for the read index, then answers from its own state machine). The future fails
    /// with `RaftNodeError.notLeader(leaderID: 0)` when this member knows no leader, and with
    /// `.readNotConfirmed` when no leader confirmed the read (both are safe to retry).
    public func read<T: Sendable>(_ body: @escaping @Sendable (Machine) throws -> T) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        eventLoop.execute {
            self.driver.value.read { result in
                switch result {
                case .success(let machine): promise.completeWith(Result { try body(machine) })
                case .failure(let error): promise.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    /// Starts an election now instead of waiting for the timeout (tests).
    public func campaign() {
        eventLoop.execute { self.driver.value.campaign() }
    }

    /// Proposes a configuration change (§6) on the leader. Succeeds with the new configuration
    /// once the change is committed and applied here; fails with `.notLeader` elsewhere, with
    /// `.configChangeRefused` when the leader refuses it (nothing appended: another change
    /// pending, no entry of its term committed yet, invalid, too few reachable voters
    /// afterwards, a learner not caught up), and with `.leadershipChanged` if another leader's
    /// entry took its place.
    public func proposeConfigChange(_ change: ConfigChange) -> EventLoopFuture<Configuration> {
        let promise = eventLoop.makePromise(of: Configuration.self)
        eventLoop.execute { self.driver.value.proposeConfigChange(change, promise: promise) }
        return promise.futureResult
    }

    /// Hands leadership to voter `target` (Raft thesis §3.10). Succeeds once this node sees
    /// `target` lead; fails with `.notLeader` on a follower, `.transferFailed` for a learner or a
    /// non-member, `.transferTimedOut` when `target` did not take over within `timeout` (default:
    /// twice the election timeout). Proposals made meanwhile fail with `.transferInProgress`.
    public func transferLeadership(to target: UInt64, timeout: TimeAmount? = nil) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        eventLoop.execute { self.driver.value.transferLeadership(to: target, timeout: timeout, promise: promise) }
        return promise.futureResult
    }

    /// Hands leadership to the most up-to-date other voter heard from lately (see
    /// `RawNode.bestTransferee`), skipping `excluded`: what a leader does before it stops or
    /// leaves. Succeeds with the new leader's id once it leads; fails with `.notLeader` on other
    /// members, with `.transferFailed` when no voter is reachable, `.transferTimedOut` when the
    /// chosen one did not take over in time.
    public func handOverLeadership(excluding excluded: Set<UInt64> = [], timeout: TimeAmount? = nil) -> EventLoopFuture<UInt64> {
        let promise = eventLoop.makePromise(of: UInt64.self)
        eventLoop.execute { self.driver.value.handOverLeadership(excluding: excluded, timeout: timeout, promise: promise) }
        return promise.futureResult
    }

    /// The configuration as of a linearizable read (ReadIndex): on the leader, every change
    /// committed before the call is in it. Fails with `.notLeader` elsewhere.
    public func readConfiguration() -> EventLoopFuture<Configuration> {
        let promise = eventLoop.makePromise(of: Configuration.self)
        eventLoop.execute {
            self.driver.value.read { result in
                switch result {
                case .success: promise.succeed(self.driver.value.rawNode.configuration)
                case .failure(let error): promise.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    /// Stops the node because the cluster refused this member (`MemberRefused` from a peer: it
    /// was removed, or its data directory is not the one the cluster knows). `failed` then
    /// fails with `.refused(reason)`.
    public func refuse(_ reason: String) {
        eventLoop.execute { self.driver.value.stopByItself(.refused(reason)) }
    }

    /// Runs `body` on the node's loop with the state machine as this member has applied it so
    /// far: a local, possibly stale read (not linearizable; for those, use `read(_:)`). Fails
    /// with `.restoring` while a snapshot from the leader is replacing the state.
    public func withStateMachine<T: Sendable>(_ body: @escaping @Sendable (Machine) throws -> T) -> EventLoopFuture<T> {
        eventLoop.submit {
            let driver = self.driver.value
            guard !driver.restoring else { throw RaftNodeError.restoring }
            return try body(driver.machine)
        }
    }

    /// The node's state as of its last processed batch.
    public func status() -> EventLoopFuture<RaftNodeStatus> {
        eventLoop.submit { self.driver.value.status }
    }

    /// Completes when the node stops by itself — a storage failure, its removal from the
    /// cluster (`.removed`), a refusal by the cluster (`.refused`) — failing with the reason, or
    /// succeeds once `stop()` was called.
    public var failed: EventLoopFuture<Void> {
        eventLoop.flatSubmit { self.driver.value.failedPromise.futureResult }
    }

    /// Stops ticking and processing, waits for an in-flight disk write, fails waiting proposals
    /// with `.stopped`. The storage stays open for the caller to close.
    public func stop() async {
        try? await eventLoop.flatSubmit { self.driver.value.stop() }.get()
    }
}

/// Hands a non-Sendable value to one other thread: the giver does not touch it until it is
/// handed back (storage and state machine move into the node's loop at start-up; snapshot sinks
/// and restorers go to the I/O pool and come back when their work is done).
private struct UncheckedTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Lets the I/O pool use the storage: during a log write the pool only writes the log
/// (`performWrite`) while the loop only reads; during exclusive work (snapshots) the loop does
/// not touch the storage at all.
private struct StorageHandle: @unchecked Sendable {
    let storage: any DurableStorage
}

/// The node's state, confined to its event loop.
final class Driver<Machine: StateMachine> {
    private struct Waiter {
        let term: UInt64
        let promise: EventLoopPromise<Machine.Result?>
        let proposed: ContinuousClock.Instant
    }

    /// Called on the loop with the state machine when a linearizable read may run.
    typealias ReadCallback = (Result<Machine, RaftNodeError>) -> Void

    /// A configuration change appended at some index, waiting to be applied.
    private struct ConfigWaiter {
        let term: UInt64
        let promise: EventLoopPromise<Configuration>
    }

    /// A leadership transfer waiting for its target to lead.
    private struct TransferWaiter {
        let target: UInt64
        let promise: EventLoopPromise<Void>
        let timeout: Scheduled<Void>
    }

    let rawNode: RawNode
    private let storage: StorageHandle
    let machine: Machine
    private let sender: any MessageSender
    private let eventLoop: any EventLoop
    private let ioPool: NIOThreadPool
    private let logger: Logger
    private let observer: any RaftNodeObserver
    private let snapshotEntries: UInt64
    private let keptAfterSnapshot: UInt64
    private let tickInterval: TimeAmount

    /// What the I/O pool is doing with the storage.
    private enum StorageWork {
        case idle
        /// A `Ready`'s entries and hard state are being written: the core keeps stepping
        /// messages, ticks, proposals and reads, and urgent messages (heartbeats, the leader's
        /// appends) leave at once; the next `Ready` waits for the write.
        case logWrite
        /// A snapshot is being stored, installed or published: the core and the storage wait.
        case exclusive
        /// A leader's snapshot is stored and acknowledged, and the state machine is being rebuilt
        /// from it: the core steps as during a log write; the storage is only read.
        case rebuilding
    }
    private var storageWork = StorageWork.idle
    /// A snapshot from the leader is replacing the state machine's state (`makeRestorer` was
    /// called, `restore` not yet): local reads are refused meanwhile.
    private(set) var restoring = false
    /// When each snapshot transfer this leader runs began, and when the one being received did.
    private var sendingSnapshots: [UInt64: ContinuousClock.Instant] = [:]
    /// Followers this leader finished sending a snapshot to, and when.
    private var snapshotReceivers: [UInt64: ContinuousClock.Instant] = [:]
    /// How long the log is kept for a follower that just got a snapshot (see `compactionPoint`).
    static var catchUpGrace: Duration { .seconds(120) }
    private var receivingSnapshotSince: ContinuousClock.Instant?
    /// Storage work is in flight: no other may start, and no `Ready` may be taken.
    private var persisting: Bool { storageWork != .idle }
    private var inbox: [Message] = []
    private var proposals: [(data: [UInt8], promise: EventLoopPromise<Machine.Result?>)] = []
    private var waiters: [UInt64: Waiter] = [:]
    /// Reads queued while a write was in flight.
    private var readRequests: [ReadCallback] = []
    /// Reads the core is confirming (or has dropped: `Ready.droppedReads`), by request id.
    private var pendingReads: [UInt64: ReadCallback] = [:]
    /// Confirmed reads waiting for the state machine to apply through their index.
    private var confirmedReads: [(index: UInt64, callback: ReadCallback)] = []
    private var nextReadID: UInt64 = 1
    /// Work on the core that must wait until no write is in flight (configuration changes,
    /// transfers), run at the next `drive()`.
    private var controls: [() -> Void] = []
    private var configWaiters: [UInt64: ConfigWaiter] = [:]
    private var transferWaiters: [TransferWaiter] = []
    /// The configuration last reported to the observer.
    private var reportedConfiguration: Configuration
    private let electionTimeout: TimeAmount
    private var pendingTicks = 0
    /// When the oldest tick in `pendingTicks` was due.
    private var oldestPendingTickDue = ContinuousClock.now
    private var nextTickDue = ContinuousClock.now
    private var driveScheduled = false
    private var stopped = false
    private var ticker: RepeatedTask?
    private var snapshotIndex: UInt64
    /// The applied index of the last snapshot started (or the stored one).
    private var snapshotAttemptIndex: UInt64
    /// A snapshot being written off the loop, and once it is sealed, waiting to be published.
    private var writingSnapshot: (any SnapshotSink)?
    private var sealedSnapshot: (sink: any SnapshotSink, started: ContinuousClock.Instant)?
    /// Set when the node stops: a snapshot being written off the loop gives up.
    private let stopping = ManagedAtomic(false)
    /// Set to give up the snapshot being written (a leader's snapshot replaces the state).
    private var abandonSnapshot: ManagedAtomic<Bool>?
    /// Set by `stop()` to give up a rebuild from a leader's snapshot: the snapshot is stored
    /// already, and the next start restores from it, so a stop need not wait for the rebuild
    /// (seconds for a large state).
    private let abandonRebuild = ManagedAtomic(false)
    private var stopPromises: [EventLoopPromise<Void>] = []
    let failedPromise: EventLoopPromise<Void>
    private(set) var status: RaftNodeStatus

    /// The applied configuration, shared with `RaftNode.configuration`.
    private let appliedConfiguration: NIOLockedValueBox<Configuration>

    init(
        configuration: RaftNodeConfiguration, storage: any DurableStorage, machine: Machine,
        sender: any MessageSender, eventLoop: any EventLoop, ioPool: NIOThreadPool, logger: Logger,
        observer: any RaftNodeObserver, appliedConfiguration: NIOLockedValueBox<Configuration>
    ) throws {
        // A restart resumes from the snapshot: restore it (streamed from the file), then the
        // core re-applies the committed entries after it.
        let restorer = try machine.makeRestorer()
        var rawBytes = 0
        let loaded = try storage.readSnapshot { chunk in
            rawBytes += chunk.count
            try restorer.consume(chunk)
        }
        if let loaded {
            try restorer.finish()
            machine.restore(restorer, index: loaded.metadata.index)
        }
        let snapshot = loaded?.metadata ?? SnapshotMetadata()
        let (hardState, stored) = try storage.initialState()
        let lastIndex = try storage.lastIndex()
        let empty = loaded == nil && lastIndex == 0 && hardState.isEmpty
        self.rawNode = try RawNode(
            config: try configuration.coreConfig(
                applied: snapshot.index,
                voters: stored.isEmpty && !empty && !Self.logStartsWithConfiguration(storage)
                    ? configuration.legacyMembers ?? configuration.members : [],
                incarnation: storage.incarnation),
            storage: storage)
        if empty && stored.isEmpty && !configuration.initialMembers.isEmpty {
            // A brand-new cluster: its first configuration goes into the log.
            try rawNode.bootstrap(configuration.initialMembers)
        }
        self.storage = StorageHandle(storage: storage)
        self.machine = machine
        self.sender = sender
        self.eventLoop = eventLoop
        self.ioPool = ioPool
        self.logger = logger
        self.observer = observer
        self.snapshotEntries = configuration.snapshotEntries
        self.keptAfterSnapshot = configuration.entriesKeptAfterSnapshot
        self.tickInterval = configuration.tickInterval
        self.snapshotIndex = snapshot.index
        self.snapshotAttemptIndex = snapshot.index
        self.electionTimeout = configuration.electionTimeout
        self.reportedConfiguration = rawNode.configuration
        self.appliedConfiguration = appliedConfiguration
        let initial = rawNode.configuration
        appliedConfiguration.withLockedValue { $0 = initial }
        self.failedPromise = eventLoop.makePromise()
        self.status = RaftNodeStatus(
            id: configuration.id, role: .follower, term: 0, leaderID: 0, commitIndex: 0, appliedIndex: 0,
            lastIndex: 0, snapshotIndex: snapshot.index)
        if let loaded {
            observer.snapshotLoaded(index: snapshot.index, compressedBytes: loaded.compressedBytes, rawBytes: rawBytes)
        }
        observer.configurationChanged(to: rawNode.configuration, byChange: false)
        refreshStatus()
    }

    /// Whether the log holds the cluster's first configuration (`RawNode.bootstrap`). Storage
    /// written before configurations were replicated has neither that nor a snapshot
    /// configuration; its membership is the configured one.
    private static func logStartsWithConfiguration(_ storage: any DurableStorage) -> Bool {
        guard (try? storage.firstIndex()) == 1, let entry = try? storage.entries(1, 2, maxSize: .max).first else {
            return false
        }
        return entry.type == .config
    }

    func startTicking() {
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        let interval = Duration(tickInterval)
        nextTickDue = .now + interval
        ticker = eventLoop.scheduleRepeatedTask(initialDelay: tickInterval, delay: tickInterval) { _ in
            let driver = loopBound.value
            if driver.pendingTicks == 0 { driver.oldestPendingTickDue = driver.nextTickDue }
            // The task is rescheduled `interval` after it ran: the next tick is due then.
            driver.nextTickDue = .now + interval
            driver.pendingTicks += 1
            driver.drive()
        }
    }

    func receive(_ message: Message) {
        guard !stopped else { return }
        inbox.append(message)
        driveSoon()
    }

    func propose(_ data: [UInt8], promise: EventLoopPromise<Machine.Result?>) {
        guard !stopped else {
            observer.proposalFailed()
            return promise.fail(RaftNodeError.stopped)
        }
        proposals.append((data, promise))
        driveSoon()
    }

    /// Drives once after every task already queued on the loop has run, so messages and
    /// proposals that arrived together (one socket read, one burst of clients) make one
    /// `Ready`: one write, one fsync, one send per peer.
    private func driveSoon() {
        guard !driveScheduled else { return }
        driveScheduled = true
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let driver = loopBound.value
            driver.driveScheduled = false
            driver.drive()
        }
    }

    func read(_ callback: @escaping ReadCallback) {
        guard !stopped else { return callback(.failure(.stopped)) }
        readRequests.append(callback)
        driveSoon()
    }

    func campaign() {
        guard !stopped, storageWork != .exclusive else { return }
        rawNode.campaign()
        drive()
    }

    func proposeConfigChange(_ change: ConfigChange, promise: EventLoopPromise<Configuration>) {
        guard !stopped else { return promise.fail(RaftNodeError.stopped) }
        controls.append { [self] in
            do {
                let index = try rawNode.proposeConfigChange(change)
                configWaiters[index] = ConfigWaiter(term: rawNode.term, promise: promise)
            } catch {
                promise.fail(Self.nodeError(error, leader: rawNode.leaderID))
            }
        }
        driveSoon()
    }

    func transferLeadership(to target: UInt64, timeout: TimeAmount?, promise: EventLoopPromise<Void>) {
        guard !stopped else { return promise.fail(RaftNodeError.stopped) }
        controls.append { [self] in startTransfer(to: target, timeout: timeout, promise: promise) }
        driveSoon()
    }

    func handOverLeadership(excluding excluded: Set<UInt64>, timeout: TimeAmount?, promise: EventLoopPromise<UInt64>) {
        guard !stopped else { return promise.fail(RaftNodeError.stopped) }
        controls.append { [self] in
            guard rawNode.isLeader else { return promise.fail(RaftNodeError.notLeader(leaderID: rawNode.leaderID)) }
            guard let target = rawNode.bestTransferee(excluding: excluded) else {
                return promise.fail(RaftNodeError.transferFailed("no other voter has been heard from within an election timeout"))
            }
            let done = eventLoop.makePromise(of: Void.self)
            done.futureResult.map { target }.cascade(to: promise)
            startTransfer(to: target, timeout: timeout, promise: done)
        }
        driveSoon()
    }

    /// Runs as a control (between two `Ready`s).
    private func startTransfer(to target: UInt64, timeout: TimeAmount?, promise: EventLoopPromise<Void>) {
        do {
            try rawNode.transferLeadership(to: target)
        } catch {
            return promise.fail(Self.nodeError(error, leader: rawNode.leaderID))
        }
        if rawNode.leaderID == target { return promise.succeed(()) }
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        let limit = timeout ?? electionTimeout * 2
        let task = eventLoop.scheduleTask(in: limit) {
            loopBound.value.transferTimedOut(target: target)
        }
        transferWaiters.append(TransferWaiter(target: target, promise: promise, timeout: task))
    }

    private func transferTimedOut(target: UInt64) {
        let (expired, kept) = (transferWaiters.filter { $0.target == target }, transferWaiters.filter { $0.target != target })
        transferWaiters = kept
        for waiter in expired {
            waiter.promise.fail(RaftNodeError.transferTimedOut(target))
        }
    }

    /// The errors of the core, as the node reports them.
    static func nodeError(_ error: any Error, leader: UInt64) -> RaftNodeError {
        switch error {
        case RaftError.notLeader(let known): .notLeader(leaderID: known)
        case RaftError.proposalDropped: .transferInProgress
        case RaftError.configChangeRefused(let refusal): .configChangeRefused(refusal.description, transient: refusal.isTransient)
        case RaftError.transferRefused(let reason): .transferFailed(reason)
        case let error as RaftNodeError: error
        default: .invalidConfiguration("\(error)")
        }
    }

    /// Feeds everything queued into the core and starts persisting the resulting `Ready`. While
    /// a log write is in flight it feeds the core all the same and sends what must not wait for
    /// the disk (etcd's asynchronous storage writes, in part): a leader whose fsync stalls keeps
    /// sending heartbeats and replicating, a follower whose fsync stalls keeps hearing its leader.
    private func drive() {
        guard !stopped, storageWork != .exclusive else { return }
        for message in inbox {
            do {
                try rawNode.step(message)
            } catch {
                logger.warning("dropped a message from \(message.from): \(error)")
            }
        }
        inbox.removeAll(keepingCapacity: true)
        if pendingTicks > 0 {
            // Loop lag: how late the oldest tick is stepped (a busy loop, or a write in flight).
            observer.ticksStepped(pendingTicks, lag: .now - oldestPendingTickDue)
            while pendingTicks > 0 {
                rawNode.tick()
                pendingTicks -= 1
            }
        }
        if storageWork == .idle {
            let controls = self.controls
            self.controls.removeAll()
            for control in controls { control() }
        }
        for (data, promise) in proposals {
            do {
                let index = try rawNode.propose(data)
                waiters[index] = Waiter(term: rawNode.term, promise: promise, proposed: .now)
            } catch {
                observer.proposalFailed()
                promise.fail(Self.nodeError(error, leader: rawNode.leaderID))
            }
        }
        proposals.removeAll(keepingCapacity: true)
        for callback in readRequests {
            let id = nextReadID
            nextReadID += 1
            do {
                try rawNode.readIndex(id)
                pendingReads[id] = callback
            } catch {
                callback(.failure(.notLeader(leaderID: rawNode.leaderID)))
            }
        }
        readRequests.removeAll(keepingCapacity: true)
        if storageWork == .logWrite || storageWork == .rebuilding {
            for message in rawNode.takeUrgentMessages() { sender.send(message) }
            refreshStatus()
            return
        }
        guard rawNode.hasReady else {
            refreshStatus()
            return
        }
        let ready = rawNode.ready()
        refreshStatus()
        // Thesis §10.2.1: the leader's requests go out first, so followers write in parallel
        // with it; its own copy counts toward a majority only after `advance`.
        for message in ready.messages { sender.send(message) }
        guard ready.hardState != nil || !ready.entries.isEmpty || ready.snapshot != nil || !ready.snapshotChunks.isEmpty
        else {
            finish(ready)
            return
        }
        if !ready.mustSync && ready.entries.isEmpty && ready.snapshot == nil && ready.snapshotChunks.isEmpty,
            let hardState = ready.hardState
        {
            // Only the commit index moved. Figure 2 calls it volatile, so nothing waits for it:
            // apply and answer first, then record it with a small unsynced write on the loop
            // (not worth a thread hop), before any other write can start.
            guard apply(ready) else { return }
            do {
                try storage.storage.persist(hardState: hardState, entries: [], snapshot: nil, sync: false)
            } catch {
                return fail(error)
            }
            return carryOn()
        }
        if ready.snapshot == nil && ready.snapshotChunks.isEmpty {
            return startLogWrite(ready)
        }
        storageWork = .exclusive
        if ready.snapshotChunks.first?.offset == 0 { receivingSnapshotSince = .now }
        // A leader's snapshot is rebuilt on the I/O thread too, after it is stored: the loop
        // only swaps the result in.
        let restorer: Machine.Restorer?
        do {
            // From here until `restore`, the machine may have dropped its old state; a snapshot
            // of our own being written would be outdated, and its view would keep the old state.
            restoring = ready.snapshot != nil
            if restoring { abandonSnapshot?.store(true, ordering: .relaxed) }
            restorer = ready.snapshot == nil ? nil : try machine.makeRestorer()
        } catch {
            return fail(error)
        }
        if ready.messages.isEmpty {
            startPersisting(ready, restorer: restorer)
        } else {
            // Let the transport write the leader's requests (queued on this loop by `send`)
            // before the I/O thread wakes up to compete for the CPU: the followers' writes are
            // on the critical path of the commit, this node's own is in parallel with them.
            let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
            let transfer = UncheckedTransfer(restorer)
            eventLoop.execute { loopBound.value.startPersisting(ready, restorer: transfer.value) }
        }
    }

    /// Writes a `Ready`'s entries and hard state on the I/O pool while the loop goes on (see
    /// `drive`); once durable, finishes the `Ready`.
    private func startLogWrite(_ ready: Ready) {
        let write: LogWrite
        do {
            write = try storage.storage.prepareWrite(hardState: ready.hardState, entries: ready.entries, sync: ready.mustSync)
        } catch {
            return fail(error)
        }
        storageWork = .logWrite
        let storage = self.storage
        let perform = {
            guard !self.stopped else {
                _ = self.ioCompleted()
                return
            }
            self.ioPool.runIfActive(eventLoop: self.eventLoop) {
                try storage.storage.performWrite(write)
            }.assumeIsolated().whenComplete { result in
                guard self.ioCompleted() else { return }
                do {
                    try result.get()
                    try storage.storage.completeWrite(write)
                } catch {
                    return self.fail(error)
                }
                self.finish(ready)
            }
        }
        if ready.messages.isEmpty {
            perform()
        } else {
            // Let the transport write the leader's requests (queued on this loop by `send`)
            // before the I/O thread wakes up to compete for the CPU: the followers' writes are
            // on the critical path of the commit, this node's own is in parallel with them.
            let loopBound = NIOLoopBound(perform, eventLoop: eventLoop)
            eventLoop.execute { loopBound.value() }
        }
    }

    private func startPersisting(_ ready: Ready, restorer: Machine.Restorer?) {
        guard !stopped else {
            _ = ioCompleted()
            return
        }
        let storage = self.storage
        ioPool.runIfActive(eventLoop: eventLoop) {
            if !ready.snapshotChunks.isEmpty { try storage.storage.stageSnapshotChunks(ready.snapshotChunks) }
            try storage.storage.persist(
                hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot, sync: ready.mustSync)
        }.assumeIsolated().whenComplete { result in
            guard self.ioCompleted() else { return }
            switch result {
            case .success:
                guard ready.snapshot != nil, let restorer else { return self.finish(ready) }
                self.rebuild(from: ready, restorer: restorer)
            case .failure(let error):
                self.fail(error)
            }
        }
    }

    /// A leader's snapshot is durable: acknowledge it at once (§7: this log now starts with
    /// it), then rebuild the state machine from the stored file on the I/O pool, a chunk at a
    /// time, while the core keeps stepping (a large state takes seconds to rebuild; meanwhile
    /// the leader's next entries arrive and queue up behind it, and its heartbeats keep this
    /// member from campaigning).
    private func rebuild(from ready: Ready, restorer: Machine.Restorer) {
        for message in ready.messagesAfterPersist { sender.send(message) }
        var rest = ready
        rest.messagesAfterPersist = []
        storageWork = .rebuilding
        let storage = self.storage
        let transfer = UncheckedTransfer(restorer)
        let abandoned = abandonRebuild
        ioPool.runIfActive(eventLoop: eventLoop) { () -> Restored in
            let started = ContinuousClock.now
            var rawBytes = 0
            _ = try storage.storage.readSnapshot { chunk in
                if abandoned.load(ordering: .relaxed) { throw RaftNodeError.stopped }
                rawBytes += chunk.count
                try transfer.value.consume(chunk)
            }
            try transfer.value.finish()
            return Restored(rawBytes: rawBytes, duration: .now - started)
        }.assumeIsolated().whenComplete { result in
            guard self.ioCompleted() else { return }
            switch result {
            case .success(let restored):
                self.finish(rest, restorer: restorer, restored: restored)
            case .failure(let error):
                self.fail(error)
            }
        }
    }

    /// Ends a disk write; false when the node stopped meanwhile (then nothing more happens).
    private func ioCompleted() -> Bool {
        storageWork = .idle
        guard !stopped else {
            for promise in stopPromises { promise.succeed(()) }
            stopPromises.removeAll()
            return false
        }
        return true
    }

    /// Steps 2–4 of `Ready`: send, apply, advance; then maybe snapshot, then drive on.
    private func finish(_ ready: Ready, restorer: Machine.Restorer? = nil, restored: Restored = Restored()) {
        if apply(ready, restorer: restorer, restored: restored) { carryOn() }
    }

    /// What rebuilding a leader's snapshot took.
    private struct Restored: Sendable {
        var rawBytes = 0
        var duration = Duration.zero
    }

    /// Steps 2–4 of `Ready`; false if the node failed. A snapshot in `ready` was rebuilt by
    /// `restorer` off the loop.
    private func apply(_ ready: Ready, restorer: Machine.Restorer? = nil, restored: Restored = Restored()) -> Bool {
        for message in ready.messagesAfterPersist { sender.send(message) }
        if let snapshot = ready.snapshot {
            guard let restorer else { preconditionFailure("a snapshot to install without its restorer") }
            machine.restore(restorer, index: snapshot.metadata.index)
            restoring = false
            if let since = receivingSnapshotSince {
                observer.snapshotTransferEnded(side: .receive, duration: .now - since)
                receivingSnapshotSince = nil
            }
            snapshotIndex = snapshot.metadata.index
            snapshotAttemptIndex = max(snapshotAttemptIndex, snapshotIndex)
            logger.notice(
                "installed a snapshot from the leader through index \(snapshot.metadata.index) (\(restored.rawBytes) bytes, \(snapshot.size) compressed, rebuilt in \(restored.duration))")
            observer.snapshotInstalled(
                index: snapshot.metadata.index, compressedBytes: snapshot.size, rawBytes: restored.rawBytes,
                duration: restored.duration)
            // Proposals the snapshot covers are unknowable here: their entries were applied by
            // others, and their results are not in the snapshot.
            for (index, waiter) in waiters where index <= snapshot.metadata.index {
                observer.proposalFailed()
                waiter.promise.fail(RaftNodeError.leadershipChanged)
                waiters[index] = nil
            }
        }
        for entry in ready.committedEntries {
            let result = machine.apply(entry)
            if let waiter = waiters.removeValue(forKey: entry.index) {
                if waiter.term == entry.term {
                    observer.proposalCommitted(after: .now - waiter.proposed)
                    waiter.promise.succeed(result)
                } else {
                    observer.proposalFailed()
                    waiter.promise.fail(RaftNodeError.leadershipChanged)
                }
            }
        }
        for state in ready.readStates {
            if let callback = pendingReads.removeValue(forKey: state.requestID) {
                confirmedReads.append((state.index, callback))
            }
        }
        for id in ready.droppedReads {
            pendingReads.removeValue(forKey: id)?(.failure(.readNotConfirmed))
        }
        rawNode.advance(ready)
        // Configuration changes take effect in `advance`: answer their proposers now.
        if !configWaiters.isEmpty {
            for entry in ready.committedEntries where entry.type == .config {
                guard let waiter = configWaiters.removeValue(forKey: entry.index) else { continue }
                if waiter.term == entry.term {
                    waiter.promise.succeed(rawNode.configuration)
                } else {
                    waiter.promise.fail(RaftNodeError.leadershipChanged)
                }
            }
        }
        if let snapshot = ready.snapshot {
            for (index, waiter) in configWaiters where index <= snapshot.metadata.index {
                configWaiters[index] = nil
                waiter.promise.fail(RaftNodeError.leadershipChanged)
            }
        }
        if rawNode.configuration != reportedConfiguration {
            reportedConfiguration = rawNode.configuration
            appliedConfiguration.withLockedValue { $0 = rawNode.configuration }
            observer.configurationChanged(to: reportedConfiguration, byChange: true)
            logger.notice("configuration: \(Self.describe(reportedConfiguration))")
        }
        serveConfirmedReads()
        refreshStatus()
        if rawNode.removalIsKnownToLeader {
            // Removed, and the cluster no longer needs this member's vote.
            stopByItself(.removed(status.id))
            return false
        }
        return true
    }

    /// One line for the log: voters, learners, outgoing voters.
    static func describe(_ c: Configuration) -> String {
        func ids(_ list: [UInt64]) -> String { list.map(String.init).joined(separator: ",") }
        var text = "voters \(ids(c.voterIDs))"
        if !c.learners.isEmpty { text += ", learners \(ids(c.learnerIDs))" }
        if c.isJoint { text += ", outgoing voters \(ids(c.outgoingVoterIDs)) (joint)" }
        if !c.removedIDs.isEmpty { text += ", removed \(ids(c.removedIDs))" }
        return text
    }

    /// After a `Ready`: publish a snapshot written meanwhile or maybe start one, then drive on.
    private func carryOn() {
        if commitSnapshot() { return }
        maybeSnapshot()
        drive()
    }

    /// Thesis §6.4 step 4: a confirmed read runs once the state machine has applied its index.
    private func serveConfirmedReads() {
        guard !confirmedReads.isEmpty else { return }
        let applied = rawNode.appliedIndex
        var served = 0
        for read in confirmedReads {
            guard read.index <= applied else { break }
            read.callback(.success(machine))
            served += 1
        }
        confirmedReads.removeFirst(served)
    }

    /// §7: once `snapshotEntries` entries were applied since the last snapshot, take a
    /// point-in-time view of the state machine (on the loop: cheap, copy-on-write) and write it
    /// into a snapshot file on the I/O pool while the loop keeps going; `commitSnapshot` then
    /// publishes it and trims the log between two writes.
    private func maybeSnapshot() {
        let applied = rawNode.appliedIndex
        guard snapshotEntries > 0, writingSnapshot == nil, applied >= snapshotAttemptIndex + snapshotEntries else {
            return
        }
        snapshotAttemptIndex = applied  // one attempt per `snapshotEntries` entries, even if it fails
        let sink: any SnapshotSink
        do {
            sink = try storage.storage.makeSnapshotSink(index: applied, configuration: rawNode.configuration)
        } catch {
            logger.error("cannot start a snapshot at \(applied): \(error)")
            return
        }
        let view = machine.snapshot()
        let started = ContinuousClock.now
        writingSnapshot = sink
        let transfer = UncheckedTransfer(sink)
        let stopping = self.stopping
        let abandoned = ManagedAtomic(false)
        abandonSnapshot = abandoned
        ioPool.runIfActive(eventLoop: eventLoop) {
            let sink = transfer.value
            try view.write { chunk in
                // A stopping node does not wait for a snapshot of gigabytes to be written, nor
                // does one about to install a leader's (the view would keep the old state alive).
                if stopping.load(ordering: .relaxed) || abandoned.load(ordering: .relaxed) {
                    throw RaftNodeError.stopped
                }
                try sink.write(chunk)
            }
            try sink.seal()
        }.assumeIsolated().whenComplete { result in
            guard !self.stopped else { return sink.abort() }
            switch result {
            case .success:
                self.sealedSnapshot = (sink, started)
                if !self.persisting { self.commitSnapshot() }
            case .failure(let error):
                sink.abort()
                self.writingSnapshot = nil
                if abandoned.load(ordering: .relaxed) {
                    self.logger.info("gave up the snapshot at \(applied): a leader's snapshot replaces the state")
                } else {
                    self.logger.error("snapshot of the state machine at \(applied) failed: \(error)")
                }
            }
        }
    }

    /// Publishes a snapshot written off the loop and trims the log behind it (a rename and a
    /// log record: short, but a storage write, so it waits for none to be in flight). Returns
    /// whether it started.
    @discardableResult
    private func commitSnapshot() -> Bool {
        guard let (sink, started) = sealedSnapshot, !persisting, !stopped else { return false }
        sealedSnapshot = nil
        storageWork = .exclusive
        let index = sink.metadata.index
        let compactTo = compactionPoint(snapshotIndex: index)
        let firstIndex = rawNode.firstIndex
        let storage = self.storage
        let transfer = UncheckedTransfer(sink)
        ioPool.runIfActive(eventLoop: eventLoop) {
            try storage.storage.commitSnapshot(transfer.value)
            if compactTo >= firstIndex {
                try storage.storage.compact(compactTo)
            }
        }.assumeIsolated().whenComplete { result in
            self.writingSnapshot = nil
            guard self.ioCompleted() else { return }
            switch result {
            case .success:
                self.snapshotIndex = max(self.snapshotIndex, index)
                let duration = ContinuousClock.now - started
                self.observer.snapshotCreated(
                    index: index, compressedBytes: sink.compressedBytes, rawBytes: sink.rawBytes, duration: duration)
                self.refreshStatus()
                self.logger.info(
                    "snapshot at index \(index) (\(sink.rawBytes) bytes, \(sink.compressedBytes) compressed) in \(duration), log compacted through \(compactTo)")
            case .failure(StorageError.snapshotOutOfDate):
                // A leader's newer snapshot was installed meanwhile.
                self.logger.info("dropped the snapshot at \(index): a newer one was installed meanwhile")
            case .failure(let error):
                return self.fail(error)
            }
            self.drive()
        }
        return true
    }

    private func refreshStatus() {
        guard storageWork != .exclusive else { return }
        let s = rawNode.status
        let new = RaftNodeStatus(
            id: s.id, role: s.role, term: s.term, leaderID: s.leaderID, commitIndex: s.commitIndex,
            appliedIndex: s.appliedIndex, lastIndex: s.lastIndex, snapshotIndex: snapshotIndex,
            commitLag: s.commitLag,
            followerLag: s.progress.mapValues { s.lastIndex > $0.match ? s.lastIndex - $0.match : 0 },
            configuration: s.configuration, leadTransferee: s.leadTransferee,
            snapshotTransfers: Set(s.progress.lazy.filter { $0.value.state == .snapshot }.map(\.key)))
        if new.snapshotTransfers != status.snapshotTransfers { timeSnapshotTransfers(new.snapshotTransfers) }
        if new != status {
            observer.statusChanged(from: status, to: new)
            status = new
        }
        if !transferWaiters.isEmpty && new.leaderID != 0 {
            let (done, waiting) = (transferWaiters.filter { $0.target == new.leaderID }, transferWaiters.filter { $0.target != new.leaderID })
            transferWaiters = waiting
            for waiter in done {
                waiter.timeout.cancel()
                waiter.promise.succeed(())
            }
        }
    }

    /// Where to trim the log behind a snapshot through `snapshotIndex`: `entriesKeptAfterSnapshot`
    /// entries before it — but on a leader, not past a follower that got a snapshot within the
    /// last two minutes. Such a follower acknowledges the snapshot as soon as it is stored and
    /// then rebuilds its state machine from it (seconds for a large state), so its match index
    /// stays at the snapshot meanwhile; trimming the entries after it would send it another
    /// snapshot, and a large state would never catch up (the install loop that users of
    /// hashicorp/raft and braft report). At most `5 × snapshotEntries` more entries are kept.
    private func compactionPoint(snapshotIndex index: UInt64) -> UInt64 {
        var point = index > keptAfterSnapshot ? index - keptAfterSnapshot : 0
        let now = ContinuousClock.now
        snapshotReceivers = snapshotReceivers.filter { now - $0.value < Self.catchUpGrace }
        guard rawNode.isLeader, !snapshotReceivers.isEmpty else { return point }
        let retained = max(5 * snapshotEntries, keptAfterSnapshot)
        let floor = index > retained ? index - retained : 0
        let progress = rawNode.status.progress
        for peer in snapshotReceivers.keys {
            if let match = progress[peer]?.match, match >= floor, match < point { point = match }
        }
        return point
    }

    /// Starts timing the transfers that began and reports those that ended.
    private func timeSnapshotTransfers(_ current: Set<UInt64>) {
        let now = ContinuousClock.now
        for (peer, started) in sendingSnapshots where !current.contains(peer) {
            observer.snapshotTransferEnded(side: .send, duration: now - started)
            sendingSnapshots[peer] = nil
            snapshotReceivers[peer] = now
        }
        for peer in current where sendingSnapshots[peer] == nil { sendingSnapshots[peer] = now }
    }

    /// Storage failed: stop acknowledging anything (what is durable is unknown), tell waiters.
    private func fail(_ error: any Error) {
        stopByItself(.storageFailed("\(error)"))
    }

    /// Stops for `reason` (a storage failure, removal or refusal), failing `failed` with it.
    func stopByItself(_ reason: RaftNodeError) {
        guard !stopped else { return }
        logger.critical("node \(status.id) stops: \(reason)")
        halt(reason)
        failedPromise.fail(reason)
    }

    private func halt(_ reason: RaftNodeError) {
        stopped = true
        stopping.store(true, ordering: .relaxed)
        ticker?.cancel()
        ticker = nil
        for (_, waiter) in waiters {
            observer.proposalFailed()
            waiter.promise.fail(reason)
        }
        waiters.removeAll()
        for (_, promise) in proposals {
            observer.proposalFailed()
            promise.fail(reason)
        }
        proposals.removeAll()
        inbox.removeAll()
        controls.removeAll()
        for waiter in configWaiters.values { waiter.promise.fail(reason) }
        configWaiters.removeAll()
        for waiter in transferWaiters {
            waiter.timeout.cancel()
            waiter.promise.fail(reason)
        }
        transferWaiters.removeAll()
        let reads = readRequests + Array(pendingReads.values) + confirmedReads.map(\.callback)
        readRequests.removeAll()
        pendingReads.removeAll()
        confirmedReads.removeAll()
        for callback in reads { callback(.failure(reason)) }
    }

    func stop() -> EventLoopFuture<Void> {
        if !stopped {
            halt(.stopped)
            failedPromise.succeed(())
        }
        abandonRebuild.store(true, ordering: .relaxed)
        guard persisting else { return eventLoop.makeSucceededVoidFuture() }
        // Wait for the in-flight write: its completion handler sees `stopped` and returns.
        let promise = eventLoop.makePromise(of: Void.self)
        stopPromises.append(promise)
        return promise.futureResult
    }
}
