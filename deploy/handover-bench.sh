#!/usr/bin/env bash
# Measures what planned and unplanned leader stops cost writing clients, on a local 3-member
# cluster (deploy/cluster.sh):
#
#   deploy/handover-bench.sh [--clients C] [--rounds R] [--no-build]
#
# Each scenario runs during its own raft-bench run of C clients (default 8) writing 256-byte
# values through KVClient (which follows the leader and retries), 3 s in:
#   (none)           nothing: the gaps the load has anyway (fsyncs, snapshots)
#   move-leader      raftctl move-leader to another voter
#   sigterm-leader   SIGTERM on the leader: it hands leadership over, then exits 0
#                    (then the member is started again, outside the measurement)
#   kill9-leader     kill -9 of the leader: the others elect one after an election timeout
#                    (then the member is started again)
#   rolling-restart  deploy/cluster.sh restart: every member in turn, the leader last
# The longest gap between two completed writes in a run is what the scenario cost the clients.
# R rounds (default 3) of each; the table shows every round's gap and errors.
#
# Data under ./.cluster (removed first); logs under .build/handover-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
clients=8
rounds=3
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  esac
done
case "$clients$rounds" in *[!0-9]*) echo "handover-bench.sh: numbers expected" >&2; exit 64 ;; esac
out="$root/.build/handover-bench"
mkdir -p "$out"
bin="$root/.build/release"
source "$root/deploy/bench-lib.sh"

[ $build -eq 1 ] && build_release --product raft-bench
flags=(); [ $build -eq 0 ] && flags+=(--no-build)
export RAFT_LOG_LEVEL=${RAFT_LOG_LEVEL:-notice}
fresh_cluster "${flags[@]}"
endpoints="127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

other_voter() { deploy/cluster.sh status 2>/dev/null | awk -v l="$1" 'NR > 1 && $2 != l && $2 != "-" { print $2; exit }'; }

# Waits until every member answers and knows a leader (after a scenario restarted one).
settle() {
  for _ in $(seq 1 100); do
    if [ "$(deploy/cluster.sh status 2>/dev/null | awk 'NR > 1 && $5 != 0 && $5 != ""' | wc -l)" -eq 3 ]; then return 0; fi
    sleep 0.2
  done
  log "the cluster did not settle"; deploy/cluster.sh status >&2 || true; exit 1
}

# running PID: the process runs (a zombie waiting to be reaped does not count).
running() { grep -q raft-node "/proc/$1/cmdline" 2>/dev/null; }
sigterm_leader() {
  local id; id=$(leader)
  local pid; pid=$(cat ".cluster/node$id/pid")
  kill -TERM "$pid"
  for _ in $(seq 1 500); do running "$pid" || break; sleep 0.01; done
  if running "$pid"; then echo "member $id still running 5 s after SIGTERM"; return 1; fi
  grep -E "leads now|hand-over failed" ".cluster/node$id/log" | tail -1
}
kill9_leader() {
  local id; id=$(leader)
  kill -KILL "$(cat ".cluster/node$id/pid")"
}
move_leader() {
  local id; id=$(leader)
  "$bin/raftctl" --endpoints "$endpoints" move-leader "$(other_voter "$id")"
}

rows=()
# during NAME COMMAND...: one raft-bench run with COMMAND 3 s in; one table row per round.
during() {
  local name=$1; shift
  local gaps=() errors=() tooks=() ops=()
  for round in $(seq 1 "$rounds"); do
    settle
    "$bin/raft-bench" --endpoints "$endpoints" --clients "$clients" --kvclient --timeout 30 --duration 10 --warmup 0 --quiet \
      >"$out/$name-$round.log" 2>&1 &
    local bench=$!
    sleep 3
    local t0; t0=$(ms)
    "$@" >"$out/$name-$round-op.log" 2>&1 || { log "$name failed:"; cat "$out/$name-$round-op.log" >&2; }
    tooks+=("$(( $(ms) - t0 ))")
    wait "$bench" || true
    # Whatever the scenario stopped comes back, outside the measurement.
    deploy/cluster.sh up --no-build >/dev/null 2>&1 || { log "could not restart the cluster"; exit 1; }
    local line; line=$(grep RESULT "$out/$name-$round.log" || echo "")
    local gap; gap=$(echo "$line" | sed -n 's/.*max_gap_us=\([0-9]*\).*/\1/p')
    gaps+=("$(( ${gap:-0} / 1000 ))")
    errors+=("$(echo "$line" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')")
    ops+=("$(echo "$line" | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p')")
  done
  rows+=("$(printf '| %-15s | %-18s | %-14s | %-20s | %-8s |' "$name" "${gaps[*]}" "${errors[*]}" "${ops[*]}" "${tooks[*]}")")
}

log "scenarios under load ($clients writing clients, $rounds rounds each)"
during "(none)" true
during move-leader move_leader
during sigterm-leader sigterm_leader
during kill9-leader kill9_leader
during rolling-restart deploy/cluster.sh restart --no-build

echo
echo "handover-bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $clients writing clients, election timeout ${RAFT_ELECTION_TIMEOUT_MS:-500} ms"
echo
echo "| scenario        | longest gap ms     | errors         | writes/s             | took ms  |"
echo "|-----------------|--------------------|----------------|----------------------|----------|"
printf '%s\n' "${rows[@]}"
