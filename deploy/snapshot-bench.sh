#!/usr/bin/env bash
# Measures what snapshots cost a loaded cluster with a large state (deploy/cluster.sh):
#
#   deploy/snapshot-bench.sh [--state-mb N] [--seconds S] [--clients C] [--snapshot-entries E] [--no-build]
#
# 1. A fresh 3-member cluster, every member snapshotting each E applied entries (default
#    20000), is filled with about N MB (default 200) of key-value state (1 KiB values).
# 2. C clients (default 8) overwrite those keys with 1 KiB values for S seconds (default 30), so
#    that the state stays N MB and every member takes several snapshots of it meanwhile.
# 3. Reported: writes/s, the longest gap between two completed writes (what a snapshot cost the
#    clients), leader changes, and from each member's metrics page the snapshots it took, their
#    mean duration, and how late its ticks were stepped (raft_loop_lag_seconds: a late tick is a
#    late heartbeat or election timer).
#
# Prints one table. Data under ./.cluster (removed first); logs under .build/snapshot-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state_mb=200
seconds=30
clients=8
entries=20000
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --state-mb) state_mb=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --snapshot-entries) entries=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  esac
done
case "$state_mb$seconds$clients$entries" in *[!0-9]*) echo "snapshot-bench.sh: numbers expected" >&2; exit 64 ;; esac
out="$root/.build/snapshot-bench"
mkdir -p "$out"
bin="$root/.build/release"
log() { echo "snapshot-bench.sh: $*" >&2; }

if [ $build -eq 1 ]; then
  log "building release"
  swift build -c release >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
fi
[ -f .cluster/members ] && deploy/cluster.sh down >/dev/null 2>&1 || true
rm -rf .cluster
export RAFT_SNAPSHOT_ENTRIES=$entries
deploy/cluster.sh up --no-build >"$out/up.log" 2>&1 || { tail -20 "$out/up.log"; exit 1; }
trap 'deploy/cluster.sh down >/dev/null 2>&1 || true' EXIT

members=$(sed -n "s/^ids: //p" .cluster/members)
endpoints=$(for i in $members; do printf '127.0.0.1:%d,' $((7100 + i)); done | sed 's/,$//')
metrics() { curl -s "http://127.0.0.1:$((7200 + $1))/metrics"; }
# value NAME [LABELS]: a sample's value on a saved page (0 when absent).
value() { awk -v m="$2" '$1 == m { v = $2 } END { printf "%d", v + 0 }' "$1"; }
fvalue() { awk -v m="$2" '$1 == m { v = $2 } END { printf "%.3f", v + 0 }' "$1"; }
rss_mb() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$(cat ".cluster/node$1/pid")/status" 2>/dev/null || echo "-"; }

keys=$(( state_mb * 1024 ))
log "filling ~$state_mb MB of state ($keys keys, 1 KiB values)"
"$bin/raft-bench" --endpoints "$endpoints" --clients 64 --value-size 1024 --keys "$keys" --count "$keys" \
  --warmup 0 --sequential-keys --quiet >"$out/fill.log" 2>&1 || { tail -5 "$out/fill.log"; exit 1; }
grep RESULT "$out/fill.log" >&2 || true
sleep 2
for i in $members; do metrics "$i" >"$out/before-$i.prom"; done

log "$clients clients overwrite the state for $seconds s"
"$bin/raft-bench" --endpoints "$endpoints" --clients "$clients" --kvclient --value-size 1024 --keys "$keys" \
  --timeout 30 --duration "$seconds" --warmup 0 --quiet >"$out/load.log" 2>&1 || { tail -5 "$out/load.log"; exit 1; }
for i in $members; do metrics "$i" >"$out/after-$i.prom"; done
line=$(grep RESULT "$out/load.log" || echo "")
field() { echo "$line" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

echo
echo "snapshot-bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), state ~$state_mb MB, snapshot every $entries entries, $clients clients, $seconds s"
echo "writes/s $(field ops_per_s), p99 $(( $(field p99_us) / 1000 )) ms, longest gap between completed writes $(( $(field max_gap_us) / 1000 )) ms, errors $(field errors)"
echo
echo "| member | leader changes | snapshots | mean snapshot s | ticks late > 100 ms | late > 500 ms | RSS MB |"
echo "|--------|----------------|-----------|-----------------|---------------------|---------------|--------|"
for i in $members; do
  b="$out/before-$i.prom" a="$out/after-$i.prom"
  changes=$(( $(value "$a" raft_leader_changes_seen_total) - $(value "$b" raft_leader_changes_seen_total) ))
  snaps=$(( $(value "$a" raft_snapshots_created_total) - $(value "$b" raft_snapshots_created_total) ))
  sum=$(awk -v a="$(fvalue "$a" 'raft_snapshot_duration_seconds_sum{op="create"}')" \
    -v b="$(fvalue "$b" 'raft_snapshot_duration_seconds_sum{op="create"}')" -v n="$snaps" \
    'BEGIN { if (n > 0 && a > 0) printf "%.2f", (a - b) / n; else printf "-" }')
  lag_count() {
    local total le100 le500
    total=$(( $(value "$a" raft_loop_lag_seconds_count) - $(value "$b" raft_loop_lag_seconds_count) ))
    le100=$(( $(value "$a" 'raft_loop_lag_seconds_bucket{le="0.1"}') - $(value "$b" 'raft_loop_lag_seconds_bucket{le="0.1"}') ))
    le500=$(( $(value "$a" 'raft_loop_lag_seconds_bucket{le="0.5"}') - $(value "$b" 'raft_loop_lag_seconds_bucket{le="0.5"}') ))
    if grep -q raft_loop_lag_seconds_count "$a"; then echo "$(( total - le100 )) $(( total - le500 ))"; else echo "- -"; fi
  }
  read -r late100 late500 <<<"$(lag_count)"
  printf '| %6s | %14s | %9s | %15s | %19s | %13s | %6s |\n' "$i" "$changes" "$snaps" "$sum" "$late100" "$late500" "$(rss_mb "$i")"
done
