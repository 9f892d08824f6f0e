#!/usr/bin/env bash
# The fault suite: real raft-node processes on loopback under partitions, one-way and bridge
# cuts, kill -9, SIGSTOP pauses, whole-cluster restarts, leadership transfers and member
# replacements, while clients put, get, delete and compare-and-swap on a few keys; then the
# history the clients saw is judged by a linearizability checker (Wing & Gong with memoisation,
# per key) and every member's final state is compared.
#
#   deploy/chaos.sh [--seconds N] [--seed S] [--members 3|5] [--nemesis LIST] [--clients C]
#                   [--keys K] [--client-timeout S] [--snapshot-entries E] [--failpoints SPEC]
#                   [--tls] [--keep] [--no-build]
#
# LIST is comma-separated: partition, one-way, bridge (5 members), kill, pause, restart-all,
# transfer, replace; or all (the default). Prints the seed, the faults injected, operations
# ok/failed/unknown and the verdict; exits 1 on an anomaly or a divergence, and then keeps
# the members' logs and data, the history (history.json) and its timeline (timeline.html)
# under .build/chaos/<seed>/. The same seed replays the same choices (the timing of a real
# cluster still varies). --tls runs the members with TLS on every port (certificates made by
# deploy/certs.sh at start). Builds the release binaries first unless --no-build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
build=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift ;;
    --keep|--tls) args+=("$1"); shift ;;
    --seconds|--seed|--members|--nemesis|--clients|--keys|--client-timeout|--snapshot-entries|--failpoints)
      [ $# -ge 2 ] || { echo "chaos.sh: $1 needs a value" >&2; exit 64; }
      args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "chaos.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
if [ $build -eq 1 ]; then
  mkdir -p .build
  echo "chaos.sh: building release (raft-node, raft-chaos)" >&2
  { swift build -c release --product raft-node && swift build -c release --product raft-chaos; } >.build/chaos-build.log 2>&1 \
    || { tail -20 .build/chaos-build.log; exit 1; }
fi
exec .build/release/raft-chaos "${args[@]}"
