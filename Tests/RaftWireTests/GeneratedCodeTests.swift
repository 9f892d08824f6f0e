import Testing

/// The committed protobuf-c sources must be exactly what protoc-c makes of
/// proto/ today: a schema edit without regeneration fails here.
@Suite struct GeneratedCodeTests {
    @Test func committedProtobufCSourcesMatchTheSchema() throws {
        let script = ForeignRuntime.root.appendingPathComponent("deploy/gen-proto.sh").path
        let output = try ForeignRuntime.run("/bin/bash", [script, "--check"])
        #expect(String(decoding: output, as: UTF8.self).contains("up to date"))
    }
}
