/// A discrete-event scheduler on simulated milliseconds: events run in (time, insertion) order,
/// and "sleeping" runs the events due before the wake-up time. Nothing ever waits on a real clock.
final class Scheduler {
    private struct Event {
        let time: Int64
        let seq: UInt64
        let action: () -> Void

        func precedes(_ other: Event) -> Bool {
            time != other.time ? time < other.time : seq < other.seq
        }
    }

    private var heap: [Event] = []
    private var nextSeq: UInt64 = 0
    /// Simulated time in milliseconds since the start of the test.
    private(set) var now: Int64 = 0
    /// Events run so far.
    private(set) var eventsRun = 0

    func schedule(after delay: Int64, _ action: @escaping () -> Void) {
        let event = Event(time: now + max(0, delay), seq: nextSeq, action: action)
        nextSeq += 1
        heap.append(event)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !heap[i].precedes(heap[parent]) { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    var nextTime: Int64? { heap.first?.time }

    /// Runs the earliest event; false if there is none.
    @discardableResult
    func runNext() -> Bool {
        guard !heap.isEmpty else { return false }
        let event = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count && heap[l].precedes(heap[m]) { m = l }
                if r < heap.count && heap[r].precedes(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        now = event.time
        eventsRun += 1
        event.action()
        return true
    }

    /// Moves the clock forward to `time` when no event is due before it.
    func advance(to time: Int64) {
        if time > now { now = time }
    }

    /// Drops every pending event (and the closures, which capture the cluster).
    func clear() {
        heap.removeAll()
    }
}
