import Foundation
import NIOCore
import RaftChaos
import RaftTLS
import Testing

@Suite struct MemberIdentityTests {
    @Test func onlyMemberDashAPositiveDecimalIdNamesAMember() {
        #expect(MemberIdentity.memberID(inCommonName: "member-1") == 1)
        #expect(MemberIdentity.memberID(inCommonName: "member-18446744073709551615") == UInt64.max)
        for name in ["member-0", "member-01", "member-", "member-+1", "member--1", "member-1 ", "Member-1", "client", "member-1a", "member-١"] {
            #expect(MemberIdentity.memberID(inCommonName: name) == nil, "\(name)")
        }
    }
}

@Suite struct LogRateLimiterTests {
    @Test func oneLinePerCausePerIntervalAndTheCountOfThoseHeldBack() {
        let limiter = LogRateLimiter(interval: .seconds(10))
        let start = NIODeadline.now()
        #expect(limiter.admit("not_tls", now: start) == 0)
        #expect(limiter.admit("not_tls", now: start + .seconds(1)) == nil)
        #expect(limiter.admit("not_tls", now: start + .seconds(2)) == nil)
        #expect(limiter.admit("timeout", now: start + .seconds(2)) == 0, "causes are limited separately")
        #expect(limiter.admit("not_tls", now: start + .seconds(11)) == 2)
        #expect(limiter.admit("not_tls", now: start + .seconds(12)) == nil)
    }
}

/// Certificates made at test time by deploy/certs.sh.
@Suite struct TLSCredentialsTests {
    let certificates: ClusterCertificates

    init() throws {
        certificates = try ClusterCertificates(
            members: 2, in: FileManager.default.temporaryDirectory.appendingPathComponent("raft-tls-\(UUID().uuidString)"))
    }

    func files(_ name: String, key: String? = nil) -> TLSFiles {
        TLSFiles(certificateFile: certificates.certificate(name), keyFile: key ?? certificates.key(name), trustedCAFile: certificates.ca)
    }

    @Test func unusableFilesAreRefusedSayingWhichFileAndWhy() throws {
        let missing = TLSFiles(certificateFile: "/nonexistent/cert.pem", keyFile: certificates.key("member-1"), trustedCAFile: certificates.ca)
        let error = #expect(throws: TLSSetupError.self) { try TLSCredentials(port: .peer, role: .server, files: missing) }
        #expect(error?.description.contains("/nonexistent/cert.pem") == true)
        #expect(throws: TLSSetupError.self) {
            try TLSCredentials(port: .peer, role: .server, files: files("member-1", key: certificates.key("member-2")))
        }
        let notPEM = certificates.directory.appendingPathComponent("garbage.pem")
        try Data("garbage".utf8).write(to: notPEM)
        #expect(throws: TLSSetupError.self) {
            try TLSCredentials(
                port: .client, role: .server,
                files: TLSFiles(certificateFile: notPEM.path, keyFile: certificates.key("member-1"), trustedCAFile: nil))
        }
        #expect(throws: TLSSetupError.self) {
            try TLSCredentials(
                port: .client, role: .client,
                files: TLSFiles(certificateFile: certificates.certificate("client"), keyFile: nil, trustedCAFile: certificates.ca))
        }
    }

    @Test func aReloadPicksUpRotatedFilesAndABrokenOneKeepsThePrevious() throws {
        let credentials = try TLSCredentials(port: .peer, role: .server, files: files("member-1"))
        let first = try #require(credentials.certificate)
        #expect(!credentials.filesChanged)
        try certificates.makeMember(1, days: 30)
        #expect(credentials.filesChanged)
        try credentials.reload()
        let second = try #require(credentials.certificate)
        #expect(second.notValidAfter < first.notValidAfter)
        #expect(!credentials.filesChanged)
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: certificates.key("member-1")))
        #expect(throws: TLSSetupError.self) { try credentials.reload() }
        #expect(credentials.certificate == second, "the previous certificate stays in use")
        #expect(!credentials.filesChanged, "a broken file is not read again until it changes")
    }

    @Test func aRotatedPeerCertificateNamingAnotherMemberIsNotLoaded() throws {
        let credentials = try TLSCredentials(
            port: .peer, role: .server, files: files("member-1"),
            validate: MemberIdentity.certificateMustName(member: 1, file: certificates.certificate("member-1")))
        let first = try #require(credentials.certificate)
        #expect(throws: TLSSetupError.self) {
            try TLSCredentials(
                port: .peer, role: .server, files: files("member-2"),
                validate: MemberIdentity.certificateMustName(member: 1, file: nil))
        }
        // member-2's files copied over member-1's: refused at reload, member-1's stays.
        for suffix in [".pem", "-key.pem"] {
            let source = URL(fileURLWithPath: certificates.directory.appendingPathComponent("member-2\(suffix)").path)
            let target = certificates.directory.appendingPathComponent("member-1\(suffix)")
            try FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: source, to: target)
        }
        let error = #expect(throws: TLSSetupError.self) { try credentials.reload() }
        #expect(error?.description.contains("names member-2, but this is member 1") == true)
        #expect(credentials.certificate == first)
    }
}
