/// The reference scenarios of the MIT 6.824 Raft lab (2A-2D, ported with their bounds) as plain functions, so that one body
/// runs against every persister: RaftCoreTests runs them on `MemoryStorage`, RaftStorageTests on
/// `DiskStorage` (through `PersisterFactory.current`). Each throws `TesterFailure` with the seed
/// and the command that replays it.
public enum ReferenceScenarios {}
