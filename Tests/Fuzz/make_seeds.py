"""Writes a seed corpus for FuzzWire: valid frames of every message kind,
encoded by Google's protobuf runtime (so the seeds do not share our encoder's
habits), one or several frames per file.

Usage: make_seeds.py GENERATED_DIR CORPUS_DIR
GENERATED_DIR holds raft_pb2.py and kv_pb2.py (protoc --python_out).
"""
import os
import struct
import sys

sys.path.insert(0, sys.argv[1])

import kv_pb2  # noqa: E402
import raft_pb2  # noqa: E402

M = 2**64 - 1


def envelopes():
    e = raft_pb2.Envelope
    yield e(cluster_id="c", from_id=1, to_id=2, id=1,
            request_vote=raft_pb2.RequestVoteRequest(term=3, candidate_id=1, last_log_index=9,
                                                     last_log_term=2, pre_vote=True))
    yield e(cluster_id="c", from_id=2, to_id=1, id=1,
            request_vote_response=raft_pb2.RequestVoteResponse(term=3, vote_granted=True))
    ae = raft_pb2.AppendEntriesRequest(term=M, leader_id=1, prev_log_index=7, prev_log_term=2,
                                       leader_commit=6, read_round=5)
    ae.entries.add(index=8, term=3, type=raft_pb2.ENTRY_NORMAL, data=b"put k v")
    ae.entries.add(index=9, term=3, type=raft_pb2.ENTRY_NOOP)
    yield e(cluster_id="prod", from_id=1, to_id=3, id=7, append_entries=ae)
    yield e(cluster_id="c", from_id=3, to_id=1, id=7,
            append_entries_response=raft_pb2.AppendEntriesResponse(
                term=3, success=False, conflict_index=4, conflict_term=2, prev_log_index=7,
                read_round=5))
    yield e(cluster_id="c", from_id=1, to_id=2, id=8,
            install_snapshot=raft_pb2.InstallSnapshotRequest(
                term=3, leader_id=1, last_included_index=100, last_included_term=3, offset=0,
                data=b"x\x9c\x01\x00", done=False))
    yield e(cluster_id="c", from_id=2, to_id=1, id=8,
            install_snapshot_response=raft_pb2.InstallSnapshotResponse(
                term=3, last_included_index=100, next_offset=4, done=True))


def client_messages():
    r = kv_pb2.ClientRequest
    yield r(request_id=1, client_id=5, sequence=1, put=kv_pb2.PutRequest(key=b"k", value=b"v"))
    yield r(request_id=2, get=kv_pb2.GetRequest(key=b"k"))
    yield r(request_id=3, client_id=5, sequence=2, delete=kv_pb2.DeleteRequest(key=b"k"))
    yield r(request_id=4, client_id=5, sequence=3,
            cas=kv_pb2.CompareAndSwapRequest(key=b"k", expect_exists=True, expected=b"a", value=b"b"))
    status = r(request_id=5)
    status.status.SetInParent()
    yield status
    yield kv_pb2.ClientResponse(
        request_id=5, status=kv_pb2.NOT_LEADER, leader_id=2, leader_address="127.0.0.1:7002",
        node=kv_pb2.NodeStatus(id=1, role="follower", term=3, leader_id=2, commit_index=9))


def frame(message):
    body = message.SerializeToString()
    return struct.pack(">I", len(body)) + body


def main():
    corpus = sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    messages = list(envelopes()) + list(client_messages())
    for i, message in enumerate(messages):
        with open(os.path.join(corpus, "seed-frame-%02d" % i), "wb") as f:
            f.write(frame(message))
        with open(os.path.join(corpus, "seed-bare-%02d" % i), "wb") as f:
            f.write(message.SerializeToString())
    with open(os.path.join(corpus, "seed-stream"), "wb") as f:
        f.write(b"".join(frame(m) for m in messages))


main()
