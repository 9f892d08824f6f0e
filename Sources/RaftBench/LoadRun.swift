import NIOConcurrencyHelpers
import NIOCore

/// Drives the sessions: `pipeline` workers per session, each issuing one operation at a time,
/// for a duration or a count of operations after a warmup; measures each completed operation.
struct LoadRun: Sendable {
    let sessions: [any BenchSession]
    let pipeline: Int
    let valueSize: Int
    let keys: Int
    let sequentialKeys: Bool
    let readRatio: Double
    let warmup: Double
    let duration: Double
    let count: Int?
    let progress: Bool

    /// Counters shared by all tasks (progress line, count mode, first errors).
    final class Shared: Sendable {
        struct State {
            var completed = 0
            var errors = 0
            var ticketsLeft: Int
            var printedErrors = 0
            var finishedAt: UInt64 = 0
            /// The longest time between two successive completions (of any worker) in the
            /// measured window: how long the cluster answered nothing (a leader change, a
            /// membership change), and when it ended.
            var longestGap: UInt64 = 0
            var longestGapEndedAt: UInt64 = 0
            var lastCompletion: UInt64 = 0
            /// The next key of `--sequential-keys`.
            var nextKey = 0
        }
        let state: NIOLockedValueBox<State>
        init(tickets: Int) { state = NIOLockedValueBox(State(ticketsLeft: tickets)) }
    }

    func run(target: String) async -> BenchSummary {
        let now = monotonicNanoseconds
        let begin = now()
        let measureStart = begin + UInt64(warmup * 1e9)
        let measureEnd: UInt64 = count == nil ? measureStart + UInt64(duration * 1e9) : .max
        let shared = Shared(tickets: count ?? .max)
        var value = [UInt8](repeating: 0, count: valueSize)
        var generator = SystemRandomNumberGenerator()
        for i in value.indices { value[i] = UInt8(ascii: "a") + UInt8(generator.next() % 26) }
        let keyBytes: [[UInt8]] = (0..<keys).map { Array("bench-\(String(repeating: "0", count: max(0, 8 - String($0).count)))\($0)".utf8) }
        let payload = value
        let countMode = count != nil

        let reporter: Task<Void, Never>? = progress ? Task {
            var last = 0
            var second = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                if Task.isCancelled { break }
                second += 1
                let (done, errors) = shared.state.withLockedValue { ($0.completed, $0.errors) }
                let phase = now() < measureStart ? " (warmup)" : ""
                printErr("[\(second)s] \(done - last) ops/s, \(done) ops, \(errors) errors\(phase)")
                last = done
            }
        } : nil

        let workload = Workload(
            keys: keyBytes, sequentialKeys: sequentialKeys, payload: payload, readRatio: readRatio, measureStart: measureStart,
            measureEnd: measureEnd, countMode: countMode, shared: shared)
        let loopSessions = sessions.compactMap { $0 as? any LoopDrivenSession }
        let stats: LatencyStats
        if loopSessions.count == sessions.count {
            var finished: [EventLoopFuture<LatencyStats>] = []
            for session in loopSessions {
                for _ in 0..<pipeline {
                    finished.append(LoopWorker.start(session: session, workload: workload))
                }
            }
            var all = LatencyStats()
            for future in finished {
                if let one = try? await future.get() { all.merge(one) }
            }
            stats = all
        } else {
            stats = await runTasks(workload)
        }
        reporter?.cancel()
        let end = countMode ? shared.state.withLockedValue { $0.finishedAt } : measureEnd
        let seconds = end > measureStart ? Double(end - measureStart) / 1e9 : 0
        var summary = BenchSummary(
            target: target, clients: sessions.count, pipeline: pipeline, readRatio: readRatio, valueSize: valueSize,
            stats: stats, seconds: seconds)
        shared.state.withLockedValue { state in
            // A gap still open at the end counts too.
            let last = max(state.lastCompletion, measureStart)
            if end > last && end - last > state.longestGap {
                state.longestGap = end - last
                state.longestGapEndedAt = end
            }
            summary.longestGapMicroseconds = state.longestGap / 1000
            summary.longestGapEndedAtSeconds =
                state.longestGap == 0 ? 0 : Double(state.longestGapEndedAt - measureStart) / 1e9
        }
        return summary
    }

    /// Workers as tasks awaiting each operation (sessions without a loop-driven path).
    private func runTasks(_ workload: Workload) async -> LatencyStats {
        await withTaskGroup(of: LatencyStats.self) { tasks in
            for session in sessions {
                for _ in 0..<pipeline {
                    tasks.addTask {
                        var stats = LatencyStats()
                        var rng = SystemRandomNumberGenerator()
                        while true {
                            let started = monotonicNanoseconds()
                            guard let measured = workload.admit(at: started) else { break }
                            do {
                                switch workload.nextOperation(using: &rng) {
                                case .put(let key, let value): try await session.put(key: key, value: value)
                                case .get(let key): try await session.get(key: key)
                                }
                                workload.succeeded(startedAt: started, measured: measured, stats: &stats)
                            } catch {
                                workload.failed(error, measured: measured, stats: &stats)
                                // Do not spin on a refused connection or a cluster without a leader.
                                try? await Task.sleep(nanoseconds: 10_000_000)
                            }
                        }
                        return stats
                    }
                }
            }
            var all = LatencyStats()
            for await one in tasks { all.merge(one) }
            return all
        }
    }
}

/// What every worker of a run draws from and reports to.
struct Workload: Sendable {
    let keys: [[UInt8]]
    let sequentialKeys: Bool
    let payload: [UInt8]
    let readRatio: Double
    let measureStart: UInt64
    let measureEnd: UInt64
    let countMode: Bool
    let shared: LoadRun.Shared

    /// Whether a worker may start an operation at `started`: nil once the run is over (time
    /// up, or no ticket left in count mode), else whether the operation is measured.
    func admit(at started: UInt64) -> Bool? {
        if started >= measureEnd { return nil }
        let measured = started >= measureStart
        if measured && countMode {
            let go = shared.state.withLockedValue { state -> Bool in
                guard state.ticketsLeft > 0 else { return false }
                state.ticketsLeft -= 1
                return true
            }
            if !go { return nil }
        }
        return measured
    }

    /// A random key; a read with probability `readRatio`, else a put of the payload.
    func nextOperation(using rng: inout some RandomNumberGenerator) -> BenchOperation {
        let index =
            sequentialKeys
            ? shared.state.withLockedValue { state in
                defer { state.nextKey += 1 }
                return state.nextKey % keys.count
            } : Int(rng.next() % UInt64(keys.count))
        let key = keys[index]
        let isRead = readRatio > 0 && (readRatio >= 1 || Double(rng.next() % 1_000_000) < readRatio * 1_000_000)
        return isRead ? .get(key: key) : .put(key: key, value: payload)
    }

    func succeeded(startedAt started: UInt64, measured: Bool, stats: inout LatencyStats) {
        let finished = monotonicNanoseconds()
        let inWindow = finished >= measureStart && finished <= measureEnd
        if measured && finished <= measureEnd {
            stats.record(microseconds: (finished - started) / 1000)
        }
        shared.state.withLockedValue {
            $0.completed += 1
            if finished > $0.finishedAt { $0.finishedAt = finished }
            if inWindow {
                let previous = max($0.lastCompletion, measureStart)
                if finished > previous && finished - previous > $0.longestGap {
                    $0.longestGap = finished - previous
                    $0.longestGapEndedAt = finished
                }
                $0.lastCompletion = max($0.lastCompletion, finished)
            }
        }
    }

    /// Counts the error and prints the first five of the run.
    func failed(_ error: any Error, measured: Bool, stats: inout LatencyStats) {
        if measured { stats.recordError() }
        let show = shared.state.withLockedValue { state -> Bool in
            state.errors += 1
            state.printedErrors += 1
            return state.printedErrors <= 5
        }
        if show { printErr("raft-bench: error: \(error)") }
    }
}

/// One worker confined to its session's event loop: each completion records the operation and
/// issues the next one, so neither the request nor the answer crosses a thread in the load
/// generator (the same for every system measured).
final class LoopWorker {
    private let session: any LoopDrivenSession
    private let workload: Workload
    private let done: EventLoopPromise<LatencyStats>
    private var stats = LatencyStats()
    private var rng = SystemRandomNumberGenerator()

    private init(session: any LoopDrivenSession, workload: Workload) {
        self.session = session
        self.workload = workload
        self.done = session.eventLoop.makePromise()
    }

    static func start(session: any LoopDrivenSession, workload: Workload) -> EventLoopFuture<LatencyStats> {
        let loop = session.eventLoop
        return loop.flatSubmit {
            let worker = LoopWorker(session: session, workload: workload)
            worker.next()
            return worker.done.futureResult
        }
    }

    private func next() {
        let started = monotonicNanoseconds()
        guard let measured = workload.admit(at: started) else { return done.succeed(stats) }
        let loopBound = NIOLoopBound(self, eventLoop: session.eventLoop)
        session.issue(workload.nextOperation(using: &rng)).whenComplete { result in
            loopBound.value.completed(result, started: started, measured: measured)
        }
    }

    private func completed(_ result: Result<Void, any Error>, started: UInt64, measured: Bool) {
        switch result {
        case .success:
            workload.succeeded(startedAt: started, measured: measured, stats: &stats)
            next()
        case .failure(let error):
            workload.failed(error, measured: measured, stats: &stats)
            // Do not spin on a refused connection or a cluster without a leader.
            let loopBound = NIOLoopBound(self, eventLoop: session.eventLoop)
            session.eventLoop.scheduleTask(in: .milliseconds(10)) { loopBound.value.next() }
        }
    }
}

@Sendable func monotonicNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
