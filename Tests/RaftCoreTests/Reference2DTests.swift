import RaftTestKit
import Testing

/// 6.824 lab 2D (log compaction): the scenarios of `ReferenceScenarios` on the in-memory persister.
/// (RaftStorageTests runs the same scenarios on `DiskStorage`.)
@Suite struct Reference2DTests {
    @Test func snapshotBasic2D() throws { try ReferenceScenarios.snapshotBasic2D() }
    @Test func snapshotInstall2D() throws { try ReferenceScenarios.snapshotInstall2D() }
    @Test func snapshotInstallUnreliable2D() throws { try ReferenceScenarios.snapshotInstallUnreliable2D() }
    @Test func snapshotInstallCrash2D() throws { try ReferenceScenarios.snapshotInstallCrash2D() }
    @Test func snapshotInstallUnCrash2D() throws { try ReferenceScenarios.snapshotInstallUnCrash2D() }
    @Test func snapshotAllCrash2D() throws { try ReferenceScenarios.snapshotAllCrash2D() }
    @Test func snapshotInit2D() throws { try ReferenceScenarios.snapshotInit2D() }
}
