import Foundation
import RaftMessages
import Testing

@testable import RaftWire

/// Our protobuf-c encoding against runtimes nobody here wrote, both ways.
@Suite struct InteropTests {
    // MARK: Google's Python runtime

    @Test func pythonRuntimeReadsOurBytesAndWritesBytesWeRead() throws {
        var cases: [[String: Any]] = []
        var expected: [(type: String, value: any Equatable & Sendable)] = []
        for envelope in Samples.envelopes {
            cases.append(["type": "raft.Envelope", "ours": try envelope.serializedBytes().hex, "dict": ProtoJSON.dict(envelope)])
            expected.append(("raft.Envelope", envelope))
        }
        for request in Samples.requests {
            cases.append(["type": "raft.kv.ClientRequest", "ours": try request.serializedBytes().hex, "dict": ProtoJSON.dict(request)])
            expected.append(("raft.kv.ClientRequest", request))
        }
        for response in Samples.responses {
            cases.append(["type": "raft.kv.ClientResponse", "ours": try response.serializedBytes().hex, "dict": ProtoJSON.dict(response)])
            expected.append(("raft.kv.ClientResponse", response))
        }

        let modules = try ForeignRuntime.pythonModules()
        defer { try? FileManager.default.removeItem(at: modules) }
        let casesFile = modules.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: cases).write(to: casesFile)
        let script = ForeignRuntime.root.appendingPathComponent("Tests/Interop/pb_interop.py").path
        let output = try ForeignRuntime.run("/usr/bin/python3", [script, modules.path, casesFile.path])
        let results = try #require(try JSONSerialization.jsonObject(with: output) as? [[String: Any]])
        #expect(results.count == cases.count)

        for (result, (type, value)) in zip(results, expected) {
            #expect(result["ok"] as? Bool == true, "\(type): \(result["detail"] ?? "")")
            let theirs = try #require([UInt8](hex: result["theirs"] as? String ?? "-"))
            switch value {
            case let envelope as Envelope: #expect(try Envelope(serializedBytes: theirs) == envelope)
            case let request as ClientRequest: #expect(try ClientRequest(serializedBytes: theirs) == request)
            case let response as ClientResponse: #expect(try ClientResponse(serializedBytes: theirs) == response)
            default: Issue.record("unexpected sample \(value)")
            }
        }
    }

    // MARK: protoc text format

    /// Each case: a value and its text format exactly as `protoc --decode` prints it.
    static let textCases: [(type: String, value: any Sendable, text: String)] = [
        (
            "raft.Envelope",
            Envelope(
                clusterID: "c1", fromID: 1, toID: 2, id: 3,
                body: .appendEntries(
                    AppendEntriesRequest(
                        term: 4, leaderID: 1, prevLogIndex: 5, prevLogTerm: 3,
                        entries: [
                            LogEntry(index: 6, term: 4, data: Array("set x=1".utf8)),
                            LogEntry(index: 7, term: 4, type: .noop),
                        ], leaderCommit: 5, readRound: 12))),
            """
            cluster_id: "c1"
            from_id: 1
            to_id: 2
            id: 3
            append_entries {
              term: 4
              leader_id: 1
              prev_log_index: 5
              prev_log_term: 3
              entries {
                index: 6
                term: 4
                data: "set x=1"
              }
              entries {
                index: 7
                term: 4
                type: ENTRY_NOOP
              }
              leader_commit: 5
              read_round: 12
            }

            """
        ),
        (
            "raft.Envelope",
            Envelope(
                clusterID: "c1", fromID: 18_446_744_073_709_551_615, toID: 2, id: 9,
                body: .installSnapshot(
                    InstallSnapshotRequest(
                        term: 18_446_744_073_709_551_615, leaderID: 1, lastIncludedIndex: 100, lastIncludedTerm: 3,
                        offset: 65536, data: [0, 255, 0x78], done: true))),
            """
            cluster_id: "c1"
            from_id: 18446744073709551615
            to_id: 2
            id: 9
            install_snapshot {
              term: 18446744073709551615
              leader_id: 1
              last_included_index: 100
              last_included_term: 3
              offset: 65536
              data: "\\000\\377x"
              done: true
            }

            """
        ),
        (
            "raft.Envelope",
            Envelope(
                clusterID: "c1", fromID: 2, toID: 1, id: 3,
                body: .appendEntriesResponse(
                    AppendEntriesResponse(
                        term: 4, success: false, conflictIndex: 3, conflictTerm: 2, prevLogIndex: 5, readRound: 12))),
            """
            cluster_id: "c1"
            from_id: 2
            to_id: 1
            id: 3
            append_entries_response {
              term: 4
              conflict_index: 3
              conflict_term: 2
              prev_log_index: 5
              read_round: 12
            }

            """
        ),
        (
            "raft.kv.ClientRequest",
            ClientRequest(
                requestID: 5, clientID: 77, sequence: 12,
                operation: .compareAndSwap(key: Array("k".utf8), expected: Array("old".utf8), value: Array("new".utf8))),
            """
            request_id: 5
            client_id: 77
            sequence: 12
            cas {
              key: "k"
              expect_exists: true
              expected: "old"
              value: "new"
            }

            """
        ),
        (
            "raft.kv.ClientResponse",
            ClientResponse(
                requestID: 8, status: .notLeader, leaderID: 3, leaderAddress: "127.0.0.1:7003",
                node: NodeStatus(
                    id: 2, role: "follower", term: 6, leaderID: 3, commitIndex: 40, appliedIndex: 39,
                    lastLogIndex: 41, snapshotIndex: 0)),
            """
            request_id: 8
            status: NOT_LEADER
            leader_id: 3
            leader_address: "127.0.0.1:7003"
            node {
              id: 2
              role: "follower"
              term: 6
              leader_id: 3
              commit_index: 40
              applied_index: 39
              last_log_index: 41
            }

            """
        ),
    ]

    private func encode(_ value: any Sendable) throws -> [UInt8] {
        switch value {
        case let v as Envelope: try v.serializedBytes()
        case let v as ClientRequest: try v.serializedBytes()
        case let v as ClientResponse: try v.serializedBytes()
        default: throw ForeignRuntime.Failure(description: "no codec for \(value)")
        }
    }

    private func decode(_ type: String, _ bytes: [UInt8]) throws -> any Equatable {
        switch type {
        case "raft.Envelope": try Envelope(serializedBytes: bytes)
        case "raft.kv.ClientRequest": try ClientRequest(serializedBytes: bytes)
        default: try ClientResponse(serializedBytes: bytes)
        }
    }

    @Test func protocDecodesOurBytesToTheSameValues() throws {
        for (type, value, text) in Self.textCases {
            #expect(try ForeignRuntime.protocDecode(type, bytes: encode(value)) == text)
        }
    }

    @Test func bytesProtocEncodesDecodeToTheSameValues() throws {
        for (type, value, text) in Self.textCases {
            let decoded = try decode(type, ForeignRuntime.protocEncode(type, text: text))
            #expect(String(describing: decoded) == String(describing: value))
            #expect(try encode(value) == ForeignRuntime.protocEncode(type, text: text))
        }
    }
}
