#!/usr/bin/env bash
# Builds the libFuzzer harness of the frame and message decoders
# (Tests/Fuzz) with address sanitizer and runs it for a bounded time.
#
#   deploy/fuzz.sh [SECONDS]     default 60; CI runs it for 30
#
# A finding leaves crash-*/leak-* files in the working directory and makes the
# script exit non-zero. The corpus grows in Tests/Fuzz/corpus-wire (ignored by git).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 64;; esac
cd "$root/Tests/Fuzz"
swift build -c debug --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address \
  -Xcc -fsanitize=fuzzer-no-link,address >/tmp/raft-fuzz-build.log 2>&1 \
  || { tail -40 /tmp/raft-fuzz-build.log >&2; echo "fuzz.sh: build failed" >&2; exit 1; }
bin=$(swift build -c debug --scratch-path .build-fuzz --show-bin-path)/FuzzWire
if [ ! -d corpus-wire ] || [ -z "$(ls -A corpus-wire)" ]; then
  # Seed with valid frames of every message kind, written by Google's runtime.
  generated=$(mktemp -d)
  protoc -I "$root/proto" --python_out="$generated" raft.proto kv.proto
  /usr/bin/python3 make_seeds.py "$generated" corpus-wire
  rm -rf "$generated"
fi
echo "fuzz.sh: running FuzzWire for ${seconds}s"
# The fuzzer's own exit status decides (a `|| true` here would reset PIPESTATUS and hide findings).
set +e
"$bin" corpus-wire -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
  -print_final_stats=1 2>&1 | tee /tmp/raft-fuzz.log | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==|Done)|ERROR|SUMMARY"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] && echo "fuzz.sh: no findings" || echo "fuzz.sh: finding (exit $status), see /tmp/raft-fuzz.log" >&2
exit "$status"
