#!/usr/bin/env bash
# Measures membership changes on a local cluster (deploy/cluster.sh) under write load:
#
#   deploy/membership-bench.sh [--state-mb N] [--clients C] [--no-build]
#
# 1. A fresh 3-member cluster; with --state-mb N (default 100) it is first filled with about
#    N MB of key-value state (1 KiB values).
# 2. Catch-up: a new member is started, added as a learner, and timed until it has applied
#    everything the leader had committed when it was added (through InstallSnapshot when the
#    log was compacted), then promoted.
# 3. With C clients (default 8) writing 256-byte values, each of these runs during its own
#    raft-bench run, 3 s in: add a learner and promote it (add), promote it (promote), remove the
#    leader (remove-leader: it hands over first), replace a voter by a new member (replace). The
#    longest gap between two completed writes in each run is what the change cost the clients;
#    a run with no change, first, shows the gaps the load has anyway (snapshots, fsyncs). "took"
#    is the whole cluster.sh command, waiting for a removed member to stop included.
#
# Prints one table. Data under ./.cluster (removed first); logs under .build/membership-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state_mb=100
clients=8
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --state-mb) state_mb=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  esac
done
case "$state_mb$clients" in *[!0-9]*) echo "membership-bench.sh: numbers expected" >&2; exit 64 ;; esac
out="$root/.build/membership-bench"
mkdir -p "$out"
bin="$root/.build/release"
source "$root/deploy/bench-lib.sh"

[ $build -eq 1 ] && build_release --product raft-bench
flags=(); [ $build -eq 0 ] && flags+=(--no-build)
fresh_cluster "${flags[@]}"

endpoints() { deploy/cluster.sh status 2>/dev/null | awk 'NR > 1 && $2 != "-" { print $1 }' | paste -sd, -; }

if [ "$state_mb" -gt 0 ]; then
  keys=$(( state_mb * 1024 ))
  log "filling ~$state_mb MB of state ($keys keys, 1 KiB values)"
  "$bin/raft-bench" --endpoints "$(endpoints)" --clients 64 --value-size 1024 --keys "$keys" --count "$keys" \
    --warmup 0 --sequential-keys --quiet >"$out/fill.log" 2>&1 || { tail -5 "$out/fill.log"; exit 1; }
  grep RESULT "$out/fill.log" >&2 || true
fi
leader_id=$(leader)
leader_status=$(status_of "$leader_id")
commit=$(echo "$leader_status" | awk '{ print $6 }')
term_before=$(echo "$leader_status" | awk '{ print $4 }')

log "catch-up: a new member joins as a learner (leader $leader_id, commit index $commit)"
t0=$(ms)
new=$(deploy/cluster.sh add --learner 2>"$out/add-learner.log" | sed -n 's/.*member \([0-9]*\) started.*/\1/p')
[ -n "$new" ] || { cat "$out/add-learner.log"; exit 1; }
peak=0
while true; do
  applied=$(status_of "$new" | awk '{ print $7 }')
  r=$(rss_mb "$new"); [ "$r" != "-" ] && [ "$r" -gt "$peak" ] && peak=$r
  [ -n "$applied" ] && [ "$applied" -ge "$commit" ] && break
  [ $(( $(ms) - t0 )) -lt 600000 ] || { log "the learner did not catch up within 600 s"; exit 1; }
  sleep 0.2
done
catch_up_ms=$(( $(ms) - t0 ))
term_after=$(status_of "$new" | awk '{ print $4 }')
leader_rss=$(rss_mb "$leader_id")
deploy/cluster.sh promote "$new" >/dev/null
log "caught up in $catch_up_ms ms"

# during OPERATION COMMAND...: a raft-bench run of C writing clients with COMMAND 3 s in.
results=()
during() {
  local name=$1; shift
  "$bin/raft-bench" --endpoints "$(endpoints)" --clients "$clients" --kvclient --timeout 30 --duration 12 --warmup 0 --quiet \
    >"$out/$name.log" 2>&1 &
  local bench=$!
  sleep 3
  local t0; t0=$(ms)
  "$@" >"$out/$name-op.log" 2>&1 || { log "$name failed:"; cat "$out/$name-op.log" >&2; }
  local took=$(( $(ms) - t0 ))
  wait "$bench" || true
  local line; line=$(grep RESULT "$out/$name.log" || echo "")
  local gap; gap=$(echo "$line" | sed -n 's/.*max_gap_us=\([0-9]*\).*/\1/p')
  local ops; ops=$(echo "$line" | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p')
  local errors; errors=$(echo "$line" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
  results+=("$(printf '| %-14s | %8s | %12s | %9s | %6s |' "$name" "$took" "$(( ${gap:-0} / 1000 ))" "${ops:--}" "${errors:--}")")
}

log "operations under load ($clients writing clients)"
during "(none)" true
during add deploy/cluster.sh add --learner
learner=$(( $(cat .cluster/next-id) - 1 ))
sleep 2
during promote deploy/cluster.sh promote "$learner"
victim=$(leader)
during remove-leader deploy/cluster.sh remove "$victim"
old=$(deploy/cluster.sh status 2>/dev/null | awk 'NR > 1 && $3 == "follower" { print $2; exit }')
during replace deploy/cluster.sh replace "$old"

echo
echo "membership-bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), state ~$state_mb MB"
echo "catch-up of a new member: ${catch_up_ms} ms to apply through index $commit (peak RSS of the new member ${peak} MB, leader ${leader_rss} MB; term $term_before before, $term_after after)"
echo
echo "| operation      | took ms  | longest gap ms | writes/s  | errors |"
echo "|----------------|----------|----------------|-----------|--------|"
printf '%s\n' "${results[@]}"
deploy/cluster.sh members
