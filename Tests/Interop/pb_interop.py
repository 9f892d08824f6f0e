"""Checks swift-raft's protobuf-c encoding against Google's Python runtime.

Usage: pb_interop.py GENERATED_DIR CASES_JSON
GENERATED_DIR holds raft_pb2.py and kv_pb2.py (protoc --python_out).
CASES_JSON is a list of {"type": full message name, "ours": hex bytes that
swift-raft encoded, "dict": the expected json_format dictionary}. For each
case this prints, as one JSON list on stdout:
  {"ok": the Python runtime parsed "ours" to exactly "dict",
   "detail": what differed, "theirs": hex of ParseDict(dict).SerializeToString()}
"""
import json
import sys

sys.path.insert(0, sys.argv[1])

from google.protobuf import json_format  # noqa: E402

import kv_pb2  # noqa: E402
import raft_pb2  # noqa: E402

TYPES = {
    "raft.Envelope": raft_pb2.Envelope,
    "raft.kv.ClientRequest": kv_pb2.ClientRequest,
    "raft.kv.ClientResponse": kv_pb2.ClientResponse,
}


def main():
    with open(sys.argv[2]) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        cls = TYPES[case["type"]]
        parsed = cls()
        parsed.ParseFromString(bytes.fromhex(case["ours"]))
        got = json_format.MessageToDict(
            parsed, including_default_value_fields=True, preserving_proto_field_name=True
        )
        ok = got == case["dict"]
        theirs = json_format.ParseDict(case["dict"], cls()).SerializeToString()
        results.append(
            {
                "ok": ok,
                "detail": "" if ok else "python parsed %r, expected %r" % (got, case["dict"]),
                "theirs": theirs.hex(),
            }
        )
    json.dump(results, sys.stdout)


main()
