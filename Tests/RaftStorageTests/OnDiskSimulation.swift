import RaftTestKit
import Foundation
import RaftCore
import RaftStorage
import Testing

// DiskStorage is a simulated server's persister as it is: no glue.
extension DiskStorage: SimPersister {}

extension PersisterFactory {
    /// DiskStorage persisters in a fresh temp directory per cluster; a crash closes the dead
    /// instance's storage (its later writes fail) and reopens the directory, i.e. recovery runs.
    /// No fsync: a simulated crash is a process crash, the page cache survives it.
    static func disk() -> PersisterFactory {
        let root = NSTemporaryDirectory() + "raft-sim-" + UUID().uuidString
        @Sendable func open(_ server: Int, _ voters: [UInt64]) throws -> any SimPersister {
            try DiskStorage(
                directory: root + "/server\(server)",
                options: DiskStorageOptions(segmentSize: 16 * 1024, voters: voters, unsafeNoFsync: true))
        }
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return PersisterFactory(
            make: open,
            crash: { server, old in
                let disk = old as! DiskStorage
                try disk.close()
                return try open(server, disk.options.voters)
            },
            cleanup: { try? FileManager.default.removeItem(atPath: root) })
    }
}

/// Runs a suite's scenarios with DiskStorage persisters.
struct OnDisk: SuiteTrait, TestTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await PersisterFactory.$current.withValue({ PersisterFactory.disk() }) {
            try await function()
        }
    }
}

extension Trait where Self == OnDisk {
    static var onDisk: OnDisk { OnDisk() }
}

@Suite(.onDisk) struct RandomDiskSimulationTests {
    @Test func scopeSelectsDiskStorage() throws {
        let factory = PersisterFactory.current()
        let persister = try factory.make(0, [1, 2, 3])
        #expect(persister is DiskStorage)
        try (persister as? DiskStorage)?.close()
        factory.cleanup()
    }

    @Test func randomSimulationOnDisk() throws {
        for seed in UInt64(1)...60 { try RandomSimulation.run(seed: seed &* 7919) }
    }
}

/// The reference 2C scenarios with every server's persister a `DiskStorage`: crashes close
/// the dead instance's storage and recover the directory.
@Suite(.onDisk) struct Reference2CTestsOnDisk {
    @Test func persist12C() throws { try ReferenceScenarios.persist12C() }
    @Test func persist22C() throws { try ReferenceScenarios.persist22C() }
    @Test func persist32C() throws { try ReferenceScenarios.persist32C() }
    @Test func figure82C() throws { try ReferenceScenarios.figure82C() }
    @Test func unreliableAgree2C() throws { try ReferenceScenarios.unreliableAgree2C() }
    @Test func figure8Unreliable2C() throws { try ReferenceScenarios.figure8Unreliable2C() }
    @Test func reliableChurn2C() throws { try ReferenceScenarios.reliableChurn2C() }
    @Test func unreliableChurn2C() throws { try ReferenceScenarios.unreliableChurn2C() }
}

/// The reference 2D scenarios with every server's persister a `DiskStorage`: crashes close
/// the dead instance's storage and recover the directory.
@Suite(.onDisk) struct Reference2DTestsOnDisk {
    @Test func snapshotBasic2D() throws { try ReferenceScenarios.snapshotBasic2D() }
    @Test func snapshotInstall2D() throws { try ReferenceScenarios.snapshotInstall2D() }
    @Test func snapshotInstallUnreliable2D() throws { try ReferenceScenarios.snapshotInstallUnreliable2D() }
    @Test func snapshotInstallCrash2D() throws { try ReferenceScenarios.snapshotInstallCrash2D() }
    @Test func snapshotInstallUnCrash2D() throws { try ReferenceScenarios.snapshotInstallUnCrash2D() }
    @Test func snapshotAllCrash2D() throws { try ReferenceScenarios.snapshotAllCrash2D() }
    @Test func snapshotInit2D() throws { try ReferenceScenarios.snapshotInit2D() }
}
