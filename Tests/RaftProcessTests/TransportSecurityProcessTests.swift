import Foundation
import NIOCore
import RaftChaos
import RaftClient
import RaftMessages
import RaftTLS
import RaftWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Transport security with real members (README, "Transport security"): certificates are made at
/// test time by deploy/certs.sh; every member runs mutual TLS between members, TLS with required
/// client certificates on the client port and HTTPS on the metrics page.
@Suite(.serialized) struct TransportSecurityProcessTests {
    private func k(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func aTLSClusterElectsReplicatesSnapshotsAndFailsOverLikeAPlaintextOne() async throws {
        let cluster = try await ProcessCluster(snapshotEntries: 50, tls: true)
        let client = cluster.client()
        // Past a snapshot: the stopped follower comes back through InstallSnapshot, over TLS.
        let (leader, follower) = try await cluster.stopAFollowerPastTheSnapshot(writingWith: client)
        try cluster.start(follower)
        try await cluster.waitUntil("the follower caught up through the leader's snapshot") {
            (try? await client.localGet(k("k299"), from: cluster.endpoint(follower)).value) == k("v299")
        }
        #expect(cluster.log(follower).contains("installed a snapshot from the leader"), "\(cluster.tails())")
        // Fail-over: kill -9 the leader; the others elect a leader and keep every write.
        cluster.kill9(leader)
        let survivors = (1...3).filter { $0 != leader }
        #expect(try await client.put(k("after-kill"), k("yes")).status == .ok)
        _ = try await cluster.leader(among: survivors)
        for i in stride(from: 0, to: 300, by: 7) { #expect(try await client.get(k("k\(i)")).value == k("v\(i)")) }
        // All of it went over authenticated connections, and nothing was refused.
        for id in survivors {
            let page = try await cluster.securedMetrics(id)
            #expect(page.sum("raft_tls_handshakes_total", [#"port="peer""#]) > 0)
            #expect(page.sum("raft_tls_handshakes_total", [#"port="client""#]) > 0)
            #expect(page.sum("raft_tls_identity_refused_total") == 0)
            let failures = page.sum("raft_tls_handshake_failures_total") - page.sum("raft_tls_handshake_failures_total", [#"reason="closed""#])
            #expect(failures == 0, "\(page.text.split(separator: "\n").filter { $0.contains("tls_handshake_failures") && !$0.hasSuffix(" 0") })")
        }
        await client.close()
        await cluster.shutdown()
    }

    @Test func plaintextGarbageAndSilenceOnThePeerPortAreRefusedCountedAndLoggedOncePerInterval() async throws {
        let cluster = try await ProcessCluster(tls: true)
        let leader = try await cluster.leader()
        let target = (1...3).first { $0 != leader }!
        let port = cluster.ports[target]!.peer
        // A well-formed plaintext envelope, as a member without TLS would send it.
        let plaintext = try frame(
            Envelope(
                clusterID: "process-test", fromID: UInt64(leader), toID: UInt64(target), id: 1,
                body: .appendEntries(AppendEntriesRequest(term: 1, leaderID: UInt64(leader), prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0))))
        let refused = try await RawConnection.exchange(port: port, send: plaintext, waitingAtMost: 5, group: cluster.group)
        #expect(refused.closedByMember)
        #expect(!refused.received.contains(0x08), "no protobuf answer to plaintext")
        // Garbage, 30 times: each refused and counted, the log says so about once per 10 s.
        for _ in 0..<30 {
            let garbage = try await RawConnection.exchange(
                port: port, send: Array("GET / HTTP/1.1\r\n\r\n".utf8), waitingAtMost: 5, group: cluster.group)
            #expect(garbage.closedByMember)
        }
        // Silence: a connection that never starts a handshake is closed after the timeout (1 s here).
        let silent = try await RawConnection.exchange(port: port, waitingAtMost: 10, group: cluster.group)
        #expect(silent.closedByMember)
        let page = try await cluster.securedMetrics(target)
        #expect(page[#"raft_tls_handshake_failures_total{port="peer",reason="not_tls"}"#] ?? 0 >= 31)
        #expect(page[#"raft_tls_handshake_failures_total{port="peer",reason="timeout"}"#] ?? 0 >= 1)
        let logged = cluster.log(target).split(separator: "\n").filter { $0.contains("cause=not_tls") }.count
        #expect((1...3).contains(logged), "\(logged) log lines for 31 plaintext connections")
        // The member kept serving throughout.
        let client = cluster.client()
        #expect(try await client.put(k("still"), k("serving")).status == .ok)
        await client.close()
        await cluster.shutdown()
    }

    @Test func aPeerCertificateOfAnotherCAOrPastItsDateIsRefusedAtTheHandshake() async throws {
        let cluster = try await ProcessCluster(tls: true)
        let certificates = try #require(cluster.certificates)
        let target = 1
        let port = cluster.ports[target]!.peer
        // Another CA's member-2: right name, wrong signer.
        let foreign = try ClusterCertificates(members: 2, in: cluster.root.appendingPathComponent("foreign-ca"))
        let untrusted = try await RawConnection.exchange(
            port: port, tls: foreign.clientTLS("member-2", trusting: certificates.ca), waitingAtMost: 5, group: cluster.group)
        #expect(untrusted.handshakeFailure != nil || untrusted.closedByMember)
        // This CA's member-2, but expired yesterday.
        try certificates.makeMember(2, name: "expired-member-2", days: -1)
        let expired = try await RawConnection.exchange(
            port: port, tls: certificates.clientTLS("expired-member-2"), waitingAtMost: 5, group: cluster.group)
        #expect(expired.handshakeFailure != nil || expired.closedByMember)
        // Counted just after the member sends its alert (the client may read the page first).
        try await cluster.waitUntil("both refusals are counted") {
            let page = try await cluster.securedMetrics(target)
            return page[#"raft_tls_handshake_failures_total{port="peer",reason="untrusted_certificate"}"#] ?? 0 >= 1
                && page[#"raft_tls_handshake_failures_total{port="peer",reason="expired_certificate"}"#] ?? 0 >= 1
        }
        await cluster.shutdown()
    }

    /// The attack that motivated peer TLS: one forged AppendEntries with a huge term moved a whole
    /// cluster to that term. With TLS, a member's certificate speaks only for that member.
    @Test func aMemberCertificateCannotSpeakForAnotherMember() async throws {
        let cluster = try await ProcessCluster(tls: true)
        let certificates = try #require(cluster.certificates)
        let leader = try await cluster.leader()
        let target = (1...3).first { $0 != leader }!
        let holder = (1...3).first { $0 != leader && $0 != target }!
        let port = cluster.ports[target]!.peer
        let termBefore = try await cluster.client().status(of: cluster.endpoint(target)).term
        func appendEntries(from: Int, term: UInt64) throws -> [UInt8] {
            try frame(
                Envelope(
                    clusterID: "process-test", fromID: UInt64(from), toID: UInt64(target), id: 1,
                    body: .appendEntries(
                        AppendEntriesRequest(term: term, leaderID: UInt64(from), prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0))))
        }
        // Control: with its own id, the holder's envelope is served (a stale term is answered).
        let own = try await RawConnection.exchange(
            port: port, tls: certificates.clientTLS("member-\(holder)"), send: appendEntries(from: holder, term: 0),
            waitingAtMost: 2, group: cluster.group)
        #expect(own.handshakeFailure == nil)
        #expect(!own.received.isEmpty, "a member's own envelope is answered")
        // Forged: member-<holder>'s certificate, the leader's id, term 10^6.
        let forged = try await RawConnection.exchange(
            port: port, tls: certificates.clientTLS("member-\(holder)"), send: appendEntries(from: leader, term: 1_000_000),
            waitingAtMost: 5, group: cluster.group)
        #expect(forged.handshakeFailure == nil)
        #expect(forged.closedByMember)
        #expect(forged.received.isEmpty, "no answer to a forged envelope")
        // A certificate of the CA that names no member (the client certificate) gets nowhere either.
        let client = try await RawConnection.exchange(
            port: port, tls: certificates.clientTLS("client"), send: appendEntries(from: leader, term: 1_000_000),
            waitingAtMost: 5, group: cluster.group)
        #expect(client.closedByMember)
        #expect(client.received.isEmpty)
        let page = try await cluster.securedMetrics(target)
        #expect(page[#"raft_tls_identity_refused_total{port="peer",reason="from_id_mismatch"}"#] ?? 0 >= 1)
        #expect(page[#"raft_tls_identity_refused_total{port="peer",reason="not_a_member_certificate"}"#] ?? 0 >= 1)
        // The forged term never reached the core, and the leader still leads.
        let kv = cluster.client()
        #expect(try await kv.put(k("after-forgery"), k("ok")).status == .ok)
        let statusAfter = try await kv.status(of: cluster.endpoint(target))
        #expect(statusAfter.term < 1_000, "term went from \(termBefore) to \(statusAfter.term)")
        #expect(try await cluster.leader() == leader)
        await kv.close()
        await cluster.shutdown()
    }

    @Test func theClientPortRequiresACertificateOfTheCAAndRaftctlSpeaksTLS() async throws {
        let cluster = try await ProcessCluster(tls: true)
        let certificates = try #require(cluster.certificates)
        _ = try await cluster.leader()
        // KVClient without a certificate of its own: refused, and it says why at once.
        let anonymous = KVClient(
            endpoints: cluster.endpoints, group: cluster.group, timeout: .seconds(5), tls: try certificates.clientTLS(nil))
        await #expect(throws: KVClientError.self) { _ = try await anonymous.put(k("a"), k("b")) }
        do {
            _ = try await anonymous.put(k("a"), k("b"))
        } catch let KVClientError.tls(_, reason) {
            #expect(reason.contains("requires a client certificate"), "\(reason)")
        } catch {
            Issue.record("expected a TLS error, got \(error)")
        }
        await anonymous.close()
        // raftctl with the CA and a client certificate works; without them it fails with one line.
        try certificates.makeClient("expired", days: -1)
        let raftctl = ProcessCluster.binaries.appendingPathComponent("raftctl").path
        let endpoints = cluster.endpoints.joined(separator: ",")
        let tlsFlags = ["--cacert", certificates.ca, "--cert", certificates.certificate("client"), "--key", certificates.key("client")]
        let put = try run(raftctl, ["--endpoints", endpoints] + tlsFlags + ["put", "tls-key", "tls-value"])
        #expect(put.status == 0, "\(put.output)")
        let get = try run(raftctl, ["--endpoints", endpoints] + tlsFlags + ["get", "tls-key"])
        #expect(get.status == 0 && get.output.contains("tls-value"), "\(get.output)")
        let noCertificate = try run(raftctl, ["--endpoints", endpoints, "--cacert", certificates.ca, "get", "tls-key"])
        #expect(noCertificate.status != 0 && noCertificate.output.contains("client certificate"), "\(noCertificate.output)")
        let noCA = try run(raftctl, ["--endpoints", endpoints, "--timeout", "2", "get", "tls-key"])
        #expect(noCA.status != 0, "\(noCA.output)")
        let expired = try run(
            raftctl,
            ["--endpoints", endpoints, "--cacert", certificates.ca, "--cert", certificates.certificate("client-expired"),
             "--key", certificates.key("client-expired"), "get", "tls-key"])
        #expect(expired.status != 0 && expired.output.contains("TLS"), "\(expired.output)")
        let page = try await cluster.securedMetrics(1)
        #expect(page[#"raft_tls_handshake_failures_total{port="client",reason="no_certificate"}"#] ?? 0 >= 1)
        #expect(page[#"raft_tls_handshake_failures_total{port="client",reason="not_tls"}"#] ?? 0 >= 1)
        #expect(page[#"raft_tls_handshake_failures_total{port="client",reason="expired_certificate"}"#] ?? 0 >= 1)
        // The metrics page itself is HTTPS only.
        #expect(throws: (any Error).self) { _ = try cluster.metrics(1) }
        await cluster.shutdown()
    }

    @Test func rotatedCertificatesServeNewConnectionsAfterSIGHUPAndABrokenRotationKeepsTheOldOnes() async throws {
        let cluster = try await ProcessCluster(tls: true)
        let certificates = try #require(cluster.certificates)
        _ = try await cluster.leader()
        let port = cluster.ports[1]!.client
        let clientTLS = try certificates.clientTLS("client")
        let before = try await RawConnection.exchange(port: port, tls: clientTLS, waitingAtMost: 0.1, group: cluster.group)
        let oldExpiry = try #require(before.certificate?.notValidAfter)
        // Rotate member 1 to a certificate valid for 30 days, in place, and tell it.
        try certificates.makeMember(1, days: 30)
        kill(cluster.processes[1]!.processIdentifier, SIGHUP)
        try await cluster.waitUntil("member 1 serves its new certificate") {
            let now = try await RawConnection.exchange(port: port, tls: clientTLS, waitingAtMost: 0.1, group: cluster.group)
            return now.certificate.map { $0.notValidAfter < oldExpiry } ?? false
        }
        let rotated = try await cluster.securedMetrics(1)
        #expect(rotated[#"raft_tls_certificate_expiry_timestamp_seconds{port="peer"}"#] ?? 0 < Double(oldExpiry))
        // A broken rotation (a key that is not PEM) is refused; the member keeps the last good files.
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: certificates.key("member-1")))
        kill(cluster.processes[1]!.processIdentifier, SIGHUP)
        try await cluster.waitUntil("the failed reload is counted") {
            (try await cluster.securedMetrics(1))[#"raft_tls_certificate_reload_failures_total{port="peer"}"#] ?? 0 >= 1
        }
        #expect(cluster.log(1).contains("TLS certificates not reloaded"))
        let after = try await RawConnection.exchange(port: port, tls: clientTLS, waitingAtMost: 0.1, group: cluster.group)
        #expect(after.handshakeFailure == nil)
        // Peers still reach member 1 (new connections too: the others restart and rejoin).
        let client = cluster.client()
        for id in [2, 3] {
            #expect(try await cluster.terminate(id) == 0)
            try cluster.start(id)
        }
        #expect(try await client.put(k("after-rotation"), k("ok")).status == .ok)
        try await cluster.waitUntil("every member applied the write") {
            for id in 1...3 where (try? await client.localGet(k("after-rotation"), from: cluster.endpoint(id)).value) != k("ok") {
                return false
            }
            return true
        }
        await client.close()
        await cluster.shutdown()
    }

    @Test func aMemberRefusesToStartWithUnusableOrAnotherMembersCertificate() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("raft-tls-start-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let certificates = try ClusterCertificates(members: 2, in: root.appendingPathComponent("certs"))
        let node = ProcessCluster.binaries.appendingPathComponent("raft-node").path
        let ports = try LoopbackPorts.free(2)
        let base = [
            "--id", "1", "--cluster", "1=127.0.0.1:\(ports[0])", "--client-listen", "127.0.0.1:\(ports[1])",
            "--data-dir", root.appendingPathComponent("data").path,
        ]
        func peerFlags(_ name: String, key: String? = nil) -> [String] {
            ["--peer-cert-file", certificates.certificate(name), "--peer-key-file", key ?? certificates.key(name),
             "--peer-trusted-ca-file", certificates.ca]
        }
        let anotherMember = try run(node, base + peerFlags("member-2"))
        #expect(anotherMember.status == 1 && anotherMember.output.contains("names member-2, but this is member 1"), "\(anotherMember.output)")
        let missing = try run(node, base + peerFlags("member-9"))
        #expect(missing.status == 1 && missing.output.contains("cannot read the certificate file"), "\(missing.output)")
        let mismatchedKey = try run(node, base + peerFlags("member-1", key: certificates.key("member-2")))
        #expect(mismatchedKey.status == 1, "\(mismatchedKey.output)")
        let partial = try run(node, base + ["--peer-cert-file", certificates.certificate("member-1")])
        #expect(partial.status == 64 && partial.output.contains("peer TLS is mutual"), "\(partial.output)")
    }

    private func frame(_ envelope: Envelope) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try WireCodec().encodeFrame(envelope, into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}
