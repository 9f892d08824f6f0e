/// A field stored out of line, behind one pointer.
///
/// `RaftMessage` is an enum, as large as its largest case, and the hot path copies messages
/// (into `Ready`, through the transport). A rarely-used field with strings or arrays in it (a
/// member record, a configuration) would make every message that large; stored indirectly it
/// costs a pointer.
@propertyWrapper
public enum Indirect<Value: Sendable & Hashable>: Sendable, Hashable {
    indirect case value(Value)

    public init(wrappedValue: Value) { self = .value(wrappedValue) }

    public var wrappedValue: Value {
        get { switch self { case .value(let value): value } }
        set { self = .value(newValue) }
    }
}
