/// A snapshot being sent to one follower in InstallSnapshot chunks (§7, Figure 13 `offset`/`done`).
///
/// A window of chunks travels at once. The follower answers each chunk with the offset it expects
/// next; an answer that does not move `acked` forward while chunks are outstanding means a chunk
/// was lost or reordered, and sending resumes from the follower's offset (go-back-N). Heartbeat
/// rounds without progress resend from `acked`, and after several, from the start (the follower
/// may have restarted and lost its partial copy).
struct SnapshotTransfer {
    let snapshot: Snapshot
    /// Next byte to send.
    var sentOffset = 0
    /// The follower has every byte before this one.
    var acked = 0
    /// The chunk with `done` was sent since the last rewind.
    var doneSent = false
    /// `acked` at the previous heartbeat round, and how many rounds it has not moved.
    var ackedAtLastHeartbeat = -1
    var stalledRounds = 0
    /// The offset of the last go-back-N rewind, so duplicate answers rewind once.
    var lastRewind = -1

    init(snapshot: Snapshot) {
        self.snapshot = snapshot
    }

    var size: Int { snapshot.size }

    mutating func rewind(to offset: Int) {
        sentOffset = offset
        doneSent = false
    }

    /// The follower reported `nextOffset`.
    mutating func onAnswer(nextOffset: Int) {
        let offset = min(nextOffset, size)
        if offset > acked {
            acked = offset
            if sentOffset < acked { rewind(to: acked) }
        } else if offset == acked && (sentOffset > acked || doneSent) && lastRewind != offset {
            lastRewind = offset
            rewind(to: offset)
        }
    }

    /// Called once per heartbeat round.
    mutating func onHeartbeat() {
        if acked == ackedAtLastHeartbeat {
            stalledRounds += 1
            lastRewind = -1
            if stalledRounds >= 5 {
                acked = 0
                stalledRounds = 0
            }
            rewind(to: acked)
        } else {
            stalledRounds = 0
        }
        ackedAtLastHeartbeat = acked
    }

    /// The next chunk to send within a window of `window` chunks of `chunkBytes`, if any; its
    /// bytes come from `read(offset, count)` when the storage keeps the stream.
    mutating func nextChunk(
        chunkBytes: Int, window: Int, read: (_ offset: Int, _ count: Int) throws -> [UInt8]
    ) throws -> (offset: Int, data: [UInt8], done: Bool)? {
        guard !doneSent, sentOffset - acked < chunkBytes * window else { return nil }
        let end = min(size, sentOffset + chunkBytes)
        let data = snapshot.isStreamed ? try read(sentOffset, end - sentOffset) : Array(snapshot.data[sentOffset..<end])
        let chunk = (offset: sentOffset, data: data, done: end == size)
        sentOffset = end
        if chunk.done { doneSent = true }
        return chunk
    }
}

/// A snapshot arriving in chunks on a follower (Figure 13 steps 2–5). Only its length is kept:
/// the bytes go to the driver as they arrive (`Ready.snapshotChunks`).
struct IncomingSnapshot {
    let metadata: SnapshotMetadata
    /// The term of the leader sending it: a new leader restarts the transfer.
    let leaderTerm: UInt64
    /// Bytes received so far.
    var received = 0
}
