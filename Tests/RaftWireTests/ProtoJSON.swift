import Foundation
import RaftMessages

/// The dictionary Google's `json_format.MessageToDict(including_default_value_fields=True,
/// preserving_proto_field_name=True)` gives for a message: uint64 as decimal
/// strings, bytes as base64, enums by name, unset oneofs and messages absent.
/// Written from the proto3 JSON mapping, independently of our codec.
enum ProtoJSON {
    static func u(_ value: UInt64) -> String { String(value) }
    static func b(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func entryType(_ type: EntryType) -> String {
        switch type {
        case .normal: "ENTRY_NORMAL"
        case .noop: "ENTRY_NOOP"
        case .config: "ENTRY_CONFIG"
        }
    }

    static func status(_ status: KVStatus) -> String {
        switch status {
        case .ok: "OK"
        case .notFound: "NOT_FOUND"
        case .notLeader: "NOT_LEADER"
        case .casFailed: "CAS_FAILED"
        case .timeout: "TIMEOUT"
        case .error: "ERROR"
        }
    }

    static func dict(_ m: Member) -> [String: Any] {
        [
            "id": u(m.id), "peer_address": m.peerAddress, "client_address": m.clientAddress, "learner": m.learner,
            "incarnation": u(m.incarnation),
        ]
    }

    static func dict(_ c: Configuration) -> [String: Any] {
        [
            "voters": c.voters.map(dict), "learners": c.learners.map(dict), "outgoing_voters": c.outgoingVoters.map(dict),
            "auto_leave": c.autoLeave, "removed_ids": c.removedIDs.map(u),
        ]
    }

    static func dict(_ e: Envelope) -> [String: Any] {
        var d: [String: Any] = [
            "cluster_id": e.clusterID, "from_id": u(e.fromID), "to_id": u(e.toID), "id": u(e.id),
            "from_incarnation": u(e.fromIncarnation),
        ]
        switch e.body {
        case nil: break
        case .requestVote(let m):
            d["request_vote"] = [
                "term": u(m.term), "candidate_id": u(m.candidateID), "last_log_index": u(m.lastLogIndex),
                "last_log_term": u(m.lastLogTerm), "pre_vote": m.preVote, "leadership_transfer": m.leadershipTransfer,
            ]
        case .requestVoteResponse(let m):
            d["request_vote_response"] = ["term": u(m.term), "vote_granted": m.voteGranted, "pre_vote": m.preVote]
        case .appendEntries(let m):
            d["append_entries"] = [
                "term": u(m.term), "leader_id": u(m.leaderID), "prev_log_index": u(m.prevLogIndex),
                "prev_log_term": u(m.prevLogTerm), "leader_commit": u(m.leaderCommit), "read_round": u(m.readRound),
                "entries": m.entries.map { entry -> [String: Any] in
                    ["index": u(entry.index), "term": u(entry.term), "type": entryType(entry.type), "data": b(entry.data)]
                },
            ]
        case .appendEntriesResponse(let m):
            var r: [String: Any] = [
                "term": u(m.term), "success": m.success, "match_index": u(m.matchIndex),
                "conflict_index": u(m.conflictIndex), "conflict_term": u(m.conflictTerm),
                "prev_log_index": u(m.prevLogIndex), "read_round": u(m.readRound),
            ]
            if let member = m.member { r["member"] = dict(member) }
            d["append_entries_response"] = r
        case .installSnapshot(let m):
            var r: [String: Any] = [
                "term": u(m.term), "leader_id": u(m.leaderID), "last_included_index": u(m.lastIncludedIndex),
                "last_included_term": u(m.lastIncludedTerm), "offset": u(m.offset), "data": b(m.data), "done": m.done,
            ]
            if m.configuration != Configuration() { r["configuration"] = dict(m.configuration) }
            d["install_snapshot"] = r
        case .installSnapshotResponse(let m):
            d["install_snapshot_response"] = [
                "term": u(m.term), "last_included_index": u(m.lastIncludedIndex), "next_offset": u(m.nextOffset),
                "done": m.done,
            ]
        case .timeoutNow(let m):
            d["timeout_now"] = ["term": u(m.term), "leader_id": u(m.leaderID)]
        case .timeoutNowResponse(let m):
            d["timeout_now_response"] = ["term": u(m.term)]
        case .readIndex(let m):
            d["read_index"] = ["term": u(m.term), "context": u(m.context)]
        case .readIndexResponse(let m):
            d["read_index_response"] = [
                "term": u(m.term), "context": u(m.context), "success": m.success, "read_index": u(m.readIndex),
            ]
        case .memberRefused(let m):
            d["member_refused"] = [
                "removed": m.removed, "expected_incarnation": u(m.expectedIncarnation), "reason": m.reason,
            ]
        }
        return d
    }

    static func dict(_ r: ClientRequest) -> [String: Any] {
        var d: [String: Any] = ["request_id": u(r.requestID), "client_id": u(r.clientID), "sequence": u(r.sequence)]
        switch r.operation {
        case nil: break
        case .put(let key, let value): d["put"] = ["key": b(key), "value": b(value)]
        case .get(let key, let serializable): d["get"] = ["key": b(key), "serializable": serializable]
        case .delete(let key): d["delete"] = ["key": b(key)]
        case .compareAndSwap(let key, let expected, let value):
            d["cas"] = ["key": b(key), "expect_exists": expected != nil, "expected": b(expected ?? []), "value": b(value)]
        case .status: d["status"] = [String: Any]()
        case .memberList: d["member_list"] = [String: Any]()
        case .memberAdd(let member): d["member_add"] = ["member": dict(member)]
        case .memberPromote(let id): d["member_promote"] = ["id": u(id)]
        case .memberRemove(let id): d["member_remove"] = ["id": u(id)]
        case .memberReplace(let oldID, let newID): d["member_replace"] = ["old_id": u(oldID), "new_id": u(newID)]
        case .transferLeader(let id): d["transfer_leader"] = ["id": u(id)]
        }
        return d
    }

    static func dict(_ r: ClientResponse) -> [String: Any] {
        var d: [String: Any] = [
            "request_id": u(r.requestID), "status": status(r.status), "leader_id": u(r.leaderID),
            "leader_address": r.leaderAddress, "value": b(r.value), "error": r.error, "index": u(r.index),
            "members": r.members.map(dict),
        ]
        if let configuration = r.configuration { d["configuration"] = dict(configuration) }
        if let n = r.node {
            d["node"] = [
                "id": u(n.id), "role": n.role, "term": u(n.term), "leader_id": u(n.leaderID),
                "commit_index": u(n.commitIndex), "applied_index": u(n.appliedIndex),
                "last_log_index": u(n.lastLogIndex), "snapshot_index": u(n.snapshotIndex),
            ]
        }
        return d
    }
}
