/// One operation on a single register, reduced for the search: values are interned (0 is
/// "absent"), and the outcome is folded into the step.
struct RegisterOperation {
    enum Step: Hashable {
        /// A put or delete that answered: always takes effect.
        case write(Int32)
        /// A get that answered: the register must hold the value.
        case read(Int32)
        /// A cas that succeeded: the register held `expected`, now holds `new`.
        case swap(expected: Int32, new: Int32)
        /// A cas that answered "cas failed": the register held something else.
        case mismatch(expected: Int32)
        /// A put or delete without an answer.
        case unknownWrite(Int32)
        /// A cas without an answer: takes effect if the register holds `expected`.
        case unknownSwap(expected: Int32, new: Int32)

        /// The step with `transform` applied to the value it writes.
        func mapWritten(_ transform: (Int32) -> Int32) -> Step {
            switch self {
            case .write(let new): .write(transform(new))
            case .unknownWrite(let new): .unknownWrite(transform(new))
            case .swap(let expected, let new): .swap(expected: expected, new: transform(new))
            case .unknownSwap(let expected, let new): .unknownSwap(expected: expected, new: transform(new))
            case .read, .mismatch: self
            }
        }
    }

    var step: Step
    var invoke: UInt64
    /// `nil` for an unknown outcome: the operation may take effect at any time after `invoke`.
    var complete: UInt64?

    /// The register after this operation when it holds `value`, or `nil` if the operation
    /// cannot take effect now.
    ///
    /// An unknown operation that would not change the register is refused: taking effect then is
    /// indistinguishable from never taking effect, which the search already allows by leaving it
    /// for last, and accepting it would only double the configurations to explore.
    @inline(__always)
    func apply(to value: Int32) -> Int32? {
        switch step {
        case .write(let new): new
        case .read(let read): value == read ? value : nil
        case .swap(let expected, let new): value == expected ? new : nil
        case .mismatch(let expected): value != expected ? value : nil
        case .unknownWrite(let new): value != new ? new : nil
        case .unknownSwap(let expected, let new): value == expected && expected != new ? new : nil
        }
    }

    var isAnswered: Bool { complete != nil }

    /// The value an unanswered operation writes when it takes effect.
    var written: Int32? {
        switch step {
        case .unknownWrite(let new), .unknownSwap(_, let new): new
        case .write, .read, .swap, .mismatch: nil
        }
    }

    /// The value the register must hold for a reading operation to take effect, `nil` if any
    /// value but `expected` will do (a failed cas) or the operation does not read.
    var needed: Int32? {
        switch step {
        case .read(let value), .swap(let value, _), .unknownSwap(let value, _): value
        case .write, .unknownWrite, .mismatch: nil
        }
    }

    /// Whether the operation's success depends on the register's value (writes succeed on any).
    var reads: Bool {
        switch step {
        case .write, .unknownWrite: false
        case .read, .swap, .mismatch, .unknownSwap: true
        }
    }
}
