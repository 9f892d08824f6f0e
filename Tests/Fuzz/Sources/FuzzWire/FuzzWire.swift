#if canImport(Glibc)
    import Glibc
#endif
import NIOCore
import NIOEmbedded
import RaftMessages
import RaftWire

/// libFuzzer entry point: the input is a byte stream as a peer or client
/// might send it. Crashes, sanitizer reports and leaks are findings; so is a
/// decoded message that does not survive re-encoding.
///
/// - The whole input goes through the frame decoder (maximum 4 KiB), cut into
///   1 to 8 reads (the count derived from its first byte); every frame is decoded as
///   each top-level message.
/// - The whole input is also decoded directly as each top-level message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: UnsafeRawPointer(start), count: count)
    let codec = WireCodec()
    decodeAsEveryMessage(input, codec: codec)
    feedFrames(input, codec: codec)
    return 0
}

/// SwiftPM links executables with its own entry point, so instead of
/// libFuzzer's `main` this one hands control to libFuzzer's driver.
@main
enum FuzzWireMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzWire))
    }
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

private func decodeAsEveryMessage(_ bytes: UnsafeRawBufferPointer, codec: WireCodec) {
    if let envelope = try? codec.decodeEnvelope(from: bytes) {
        let again = try! Envelope(serializedBytes: try! envelope.serializedBytes())
        precondition(again == envelope, "envelope changed across re-encoding")
    }
    if let request = try? codec.decodeClientRequest(from: bytes) {
        let again = try! ClientRequest(serializedBytes: try! request.serializedBytes())
        precondition(again == request, "client request changed across re-encoding")
    }
    if let response = try? codec.decodeClientResponse(from: bytes) {
        let again = try! ClientResponse(serializedBytes: try! response.serializedBytes())
        precondition(again == response, "client response changed across re-encoding")
    }
    if let record = try? codec.decodeSnapshotRecord(from: bytes) {
        var buffer = ByteBuffer()
        try! WireCodec().encodeFrame(record, into: &buffer)
        buffer.moveReaderIndex(forwardBy: 4)
        precondition(try! WireCodec().decodeSnapshotRecord(from: buffer) == record, "snapshot record changed")
    }
}

private func feedFrames(_ input: UnsafeRawBufferPointer, codec: WireCodec) {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandler(
        ByteToMessageHandler(LengthPrefixedFrameDecoder(maximumFrameLength: 4096)))
    // 1 to 8 reads of equal size: enough to split frames anywhere without paying a pipeline
    // pass per byte (FramingTests already cut streams at every offset).
    let reads = 1 + Int(input.first ?? 0) % 8
    let step = max(1, (input.count + reads - 1) / reads)
    var offset = 0
    var failed = false
    while offset < input.count && !failed {
        let end = min(input.count, offset + step)
        let chunk = ByteBuffer(bytes: input[offset..<end])
        offset = end
        do {
            try channel.writeInbound(chunk)
        } catch is FrameError {
            failed = true
        } catch {
            preconditionFailure("frame decoder threw \(error)")
        }
        while let frame = try? channel.readInbound(as: ByteBuffer.self) {
            precondition(frame.readableBytes > 0 && frame.readableBytes <= 4096, "frame size out of bounds")
            frame.withUnsafeReadableBytes { decodeAsEveryMessage($0, codec: codec) }
        }
    }
    do {
        _ = try channel.finish()
    } catch is FrameError {
    } catch {
        preconditionFailure("frame decoder threw \(error) at end of stream")
    }
}
