#!/usr/bin/env bash
# Runs the randomized cluster simulation of the Raft core (random partitions, crashes and
# restarts, drops, duplicates, reordering, snapshots; the Figure 3 safety properties checked
# after every event, liveness after healing) for any number of seeds.
#
#   deploy/simulate.sh [SEEDS] [FIRST_SEED]     default 10000 seeds from a random base
#
# A failure prints its seed and the command that replays it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds=${1:-10000}
base=${2:-$(( (RANDOM << 30) | (RANDOM << 15) | RANDOM ))}
case "$seeds$base" in *[!0-9]*) echo "simulate.sh: SEEDS and FIRST_SEED must be whole numbers" >&2; exit 64;; esac
cd "$root"
echo "simulate.sh: $seeds seeds from $base"
swift build --build-tests >/dev/null
start=$(date +%s)
set +e  # read the test run's own status, and still print the summary when it fails
RAFT_SIM_SEEDS=$seeds RAFT_SIM_SEED_BASE=$base swift test --skip-build --filter RandomSimulationTests 2>&1 \
  | grep -E "✘|✔ Test run|error|seed" | cut -c1-300
status=${PIPESTATUS[0]}
set -e
echo "simulate.sh: $seeds seeds in $(( $(date +%s) - start )) s, exit $status"
exit "$status"
