#!/usr/bin/env bash
# Regenerates the protobuf-c sources of Sources/CRaftProto from proto/*.proto.
#
#   deploy/gen-proto.sh            write the generated files in place
#   deploy/gen-proto.sh --check    exit 1 if the committed files differ from
#                                  what protoc-c makes of proto/ (run by the
#                                  test suite)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target="$root/Sources/CRaftProto"
command -v protoc-c >/dev/null || { echo "gen-proto: protoc-c not found (apt-get install protobuf-c-compiler)" >&2; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$root/proto" && protoc-c --c_out="$out" raft.proto kv.proto)

check=false
[ "${1:-}" = "--check" ] && check=true
status=0
for name in raft kv; do
  for pair in "$name.pb-c.c:$target/$name.pb-c.c" "$name.pb-c.h:$target/include/$name.pb-c.h"; do
    generated="$out/${pair%%:*}"; committed="${pair#*:}"
    if $check; then
      if ! cmp -s "$generated" "$committed"; then
        echo "gen-proto: ${committed#"$root"/} differs from what protoc-c generates from proto/; run deploy/gen-proto.sh" >&2
        status=1
      fi
    else
      cp "$generated" "$committed"
    fi
  done
done
$check && [ $status -eq 0 ] && echo "gen-proto: generated sources are up to date"
exit $status
