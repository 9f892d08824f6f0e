import RaftTestKit
import Testing

/// 6.824 lab 2C (persistence): the scenarios of `ReferenceScenarios` on the in-memory persister.
/// (RaftStorageTests runs the same scenarios on `DiskStorage`.)
@Suite struct Reference2CTests {
    @Test func persist12C() throws { try ReferenceScenarios.persist12C() }
    @Test func persist22C() throws { try ReferenceScenarios.persist22C() }
    @Test func persist32C() throws { try ReferenceScenarios.persist32C() }
    @Test func figure82C() throws { try ReferenceScenarios.figure82C() }
    @Test func unreliableAgree2C() throws { try ReferenceScenarios.unreliableAgree2C() }
    @Test func figure8Unreliable2C() throws { try ReferenceScenarios.figure8Unreliable2C() }
    @Test func reliableChurn2C() throws { try ReferenceScenarios.reliableChurn2C() }
    @Test func unreliableChurn2C() throws { try ReferenceScenarios.unreliableChurn2C() }
}
