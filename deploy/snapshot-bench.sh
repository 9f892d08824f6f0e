#!/usr/bin/env bash
# Measures what snapshots cost a loaded cluster with a large state (deploy/cluster.sh):
#
#   deploy/snapshot-bench.sh [--state-mb N] [--seconds S] [--clients C] [--snapshot-entries E]
#                            [--no-catch-up] [--no-build]
#
# 1. A fresh 3-member cluster, every member snapshotting each E applied entries (default
#    20000), is filled with about N MB (default 200) of key-value state (1 KiB values).
# 2. C clients (default 8) overwrite those keys with 1 KiB values for S seconds (default 30), so
#    that the state stays N MB and every member takes several snapshots of it meanwhile.
# 3. Reported: writes/s, the longest gap between two completed writes after a 1 s warm-up (what
#    a snapshot cost the clients), leader changes, and from each member's metrics page the snapshots it took, their
#    mean duration, and how late its ticks were stepped (raft_loop_lag_seconds: a late tick is a
#    late heartbeat or election timer).
# 4. Catch-up (unless --no-catch-up), each with the C clients writing meanwhile: a follower
#    stopped while the clients wrote for 10 s (the leader compacts past it) is restarted, then a
#    new member joins as a learner; each is timed until it has applied what the leader had
#    committed when it started. Reported: seconds, MB/s of raw state, peak RSS of the leader and
#    of the member above their steady state, leader changes, the longest gap between writes.
#
# Prints one table. Data under ./.cluster (removed first); logs under .build/snapshot-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state_mb=200
seconds=30
clients=8
entries=20000
catch_up=1
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --state-mb) state_mb=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --snapshot-entries) entries=$2; shift 2 ;;
    --no-catch-up) catch_up=0; shift ;;
    --no-build) build=0; shift ;;
    *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  esac
done
case "$state_mb$seconds$clients$entries" in *[!0-9]*) echo "snapshot-bench.sh: numbers expected" >&2; exit 64 ;; esac
out="$root/.build/snapshot-bench"
mkdir -p "$out"
bin="$root/.build/release"
source "$root/deploy/bench-lib.sh"

[ $build -eq 1 ] && build_release
export RAFT_SNAPSHOT_ENTRIES=$entries
fresh_cluster --no-build

members=$(sed -n "s/^ids: //p" .cluster/members)
endpoints=$(for i in $members; do printf '127.0.0.1:%d,' $((7100 + i)); done | sed 's/,$//')
metrics() { curl -s "http://127.0.0.1:$((7200 + $1))/metrics"; }
# value NAME [LABELS]: a sample's value on a saved page (0 when absent).
value() { awk -v m="$2" '$1 == m { v = $2 } END { printf "%d", v + 0 }' "$1"; }
fvalue() { awk -v m="$2" '$1 == m { v = $2 } END { printf "%.3f", v + 0 }' "$1"; }

keys=$(( state_mb * 1024 ))
log "filling ~$state_mb MB of state ($keys keys, 1 KiB values)"
"$bin/raft-bench" --endpoints "$endpoints" --clients 64 --value-size 1024 --keys "$keys" --count "$keys" \
  --warmup 0 --sequential-keys --quiet >"$out/fill.log" 2>&1 || { tail -5 "$out/fill.log"; exit 1; }
grep RESULT "$out/fill.log" >&2 || true
sleep 2
for i in $members; do metrics "$i" >"$out/before-$i.prom"; done

log "$clients clients overwrite the state for $seconds s"
"$bin/raft-bench" --endpoints "$endpoints" --clients "$clients" --kvclient --value-size 1024 --keys "$keys" \
  --timeout 30 --duration "$seconds" --warmup 1 --quiet >"$out/load.log" 2>&1 || { tail -5 "$out/load.log"; exit 1; }
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

[ $catch_up -eq 1 ] || exit 0

catch_rows=()
# catch_up NAME MEMBER-START-COMMAND...: starts the member with the clients writing, waits until it
# has applied the leader's commit index as of the start, and records a row.
catch_up() {
  local name=$1; shift
  local l; l=$(leader)
  local leader_steady; leader_steady=$(rss_mb "$l")
  for i in $(sed -n "s/^ids: //p" .cluster/members); do metrics "$i" >"$out/$name-before-$i.prom" 2>/dev/null || true; done
  "$bin/raft-bench" --endpoints "$endpoints" --clients "$clients" --kvclient --value-size 1024 --keys "$keys" \
    --timeout 30 --duration 60 --warmup 1 --quiet >"$out/$name-load.log" 2>&1 &
  local bench=$!
  sleep 2
  local commit; commit=$(status_of "$l" | awk '{ print $6 }')
  echo 0 >"$out/$name-leader.rss"; echo 0 >"$out/$name-member.rss"
  peak_rss "$(pid_of "$l")" "$out/$name-leader.rss" & local w1=$!
  local t0; t0=$(ms)
  local id; id=$("$@")
  peak_rss "$(pid_of "$id")" "$out/$name-member.rss" & local w2=$!
  local applied=0
  while [ "${applied:-0}" -lt "$commit" ]; do
    [ $(( $(ms) - t0 )) -lt 600000 ] || { log "$name: member $id did not catch up within 600 s"; break; }
    sleep 0.2
    applied=$(status_of "$id" | awk '{ print $7 }')
  done
  local took=$(( $(ms) - t0 ))
  kill "$w1" "$w2" 2>/dev/null || true
  wait "$bench" || true
  # Term changes: the highest term any member reports, after minus before (a restarted member
  # counts leader changes from zero again, terms it does not).
  local term_before=0 term_after=0 t
  for i in $(sed -n "s/^ids: //p" .cluster/members); do
    metrics "$i" >"$out/$name-after-$i.prom" 2>/dev/null || true
    t=$(value "$out/$name-before-$i.prom" raft_term 2>/dev/null || echo 0); [ "$t" -gt "$term_before" ] && term_before=$t
    t=$(value "$out/$name-after-$i.prom" raft_term); [ "$t" -gt "$term_after" ] && term_after=$t
  done
  local changes=$(( term_after - term_before ))
  local gap; gap=$(sed -n 's/.*max_gap_us=\([0-9]*\).*/\1/p' "$out/$name-load.log")
  local errors; errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$out/$name-load.log")
  local rate; rate=$(awk -v mb="$state_mb" -v ms="$took" 'BEGIN { printf "%.0f", mb * 1000 / ms }')
  catch_rows+=("$(printf '| %-16s | %7.1f | %6s | %18s | %18s | %14s | %13s | %6s |' "$name" \
    "$(awk -v ms="$took" 'BEGIN { print ms / 1000 }')" "$rate" \
    "$(( $(cat "$out/$name-leader.rss") - leader_steady ))" "$(( $(cat "$out/$name-member.rss") - steady_member ))" \
    "$changes" "$(( ${gap:-0} / 1000 ))" "${errors:--}")")
}

# The restarted member: stopped while the clients write for 10 s.
steady_member=$(rss_mb "$(sed -n "s/^ids: //p" .cluster/members | tr ' ' '\n' | grep -vx "$(leader)" | head -1)")
victim=$(sed -n "s/^ids: //p" .cluster/members | tr ' ' '\n' | grep -vx "$(leader)" | head -1)
log "member $victim stops while $clients clients write for 10 s"
kill -TERM "$(pid_of "$victim")"
for _ in $(seq 1 100); do grep -q raft-node "/proc/$(pid_of "$victim")/cmdline" 2>/dev/null || break; sleep 0.1; done
"$bin/raft-bench" --endpoints "$(for i in $members; do [ "$i" = "$victim" ] || printf '127.0.0.1:%d,' $((7100 + i)); done | sed 's/,$//')" \
  --clients "$clients" --kvclient --value-size 1024 --keys "$keys" --timeout 30 --duration 10 --warmup 0 --quiet \
  >"$out/down-load.log" 2>&1 || true
restart_victim() { deploy/cluster.sh up --no-build >"$out/restart.log" 2>&1; echo "$victim"; }
log "member $victim restarts and catches up"
catch_up restart restart_victim
# A new member: its steady state is nothing.
steady_member=0
join() { deploy/cluster.sh add --learner 2>"$out/join.log" | sed -n 's/.*member \([0-9]*\) started.*/\1/p'; }
log "a new member joins and catches up"
catch_up join join

echo
echo "catch-up with $clients clients writing ($state_mb MB of raw state; RSS above steady state)"
echo
echo "| member           | seconds | MB/s   | leader RSS +MB     | member RSS +MB     | term changes   | longest gap ms | errors |"
echo "|------------------|---------|--------|--------------------|--------------------|----------------|----------------|--------|"
printf '%s\n' "${catch_rows[@]}"
