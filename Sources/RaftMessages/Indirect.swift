/// A field stored out of line, behind one pointer.
///
/// `RaftMessage` is an enum, as large as its largest case, and the hot path copies messages
/// (into `Ready`, through the transport). A rarely-used field with strings or arrays in it (a
/// member record, a configuration) would make every message that large; stored indirectly it
/// costs a pointer. (The pointer is a one-element array's: a class box or an indirect enum
/// case does the same, but LeakSanitizer reports those as leaks under the fuzzer.)
@propertyWrapper
public struct Indirect<Value: Sendable & Hashable>: Sendable, Hashable {
    private var storage: [Value]

    public init(wrappedValue: Value) { storage = [wrappedValue] }

    public var wrappedValue: Value {
        get { storage[0] }
        set { storage[0] = newValue }
    }
}
