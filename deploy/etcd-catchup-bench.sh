#!/usr/bin/env bash
# The catch-up measurement of deploy/snapshot-bench.sh, on etcd (Debian etcd-server, installed
# if missing), for comparison on the same machine:
#
#   deploy/etcd-catchup-bench.sh [--state-mb N] [--clients C] [--snapshot-count E] [--no-build]
#
# A 3-member etcd on loopback (client ports 2379, 22379, 32379; data under .cluster/etcd<i>;
# a snapshot every E applied entries, default 100000, etcd 3.4's own default) is
# filled with about N MB (default 200) of 1 KiB values by raft-bench; then, with C clients
# (default 8) overwriting those keys, a fourth member is added (`etcdctl member add`, started
# with --initial-cluster-state existing) and timed until it has applied what the leader had
# when it was added. Reported as snapshot-bench.sh reports ours: seconds, MB/s of raw state,
# peak RSS of the leader and of the new member above their steady state, leader changes, the
# longest gap between completed writes (after a 1 s warm-up). Stops what it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state_mb=200
clients=8
snapshot_count=100000
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --state-mb) state_mb=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --snapshot-count) snapshot_count=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  esac
done
case "$state_mb$clients$snapshot_count" in *[!0-9]*) echo "etcd-catchup-bench.sh: numbers expected" >&2; exit 64 ;; esac
out="$root/.build/etcd-catchup-bench"
mkdir -p "$out"
bin="$root/.build/release"
source "$root/deploy/bench-lib.sh"
[ $build -eq 1 ] && build_release --product raft-bench
if ! command -v etcd >/dev/null; then
  log "installing etcd-server etcd-client"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then systemctl stop etcd || true; fi
fi
export ETCDCTL_API=3

client_ports=(2379 22379 32379 42379)
peer_ports=(2380 22380 32380 42380)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 150); do
    local running=0
    for pid in "${pids[@]}"; do [ -e "/proc/$pid" ] && grep -q etcd "/proc/$pid/cmdline" 2>/dev/null && running=1; done
    [ $running -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
for p in "${client_ports[@]}" "${peer_ports[@]}"; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && die "port $p is in use (another etcd?)"
done

# start_member I CLUSTER STATE: runs etcd member e<I> (1-based).
start_member() {
  local i=$1 cluster=$2 cluster_state=$3
  local dir="$root/.cluster/etcd$i" cport=${client_ports[$((i - 1))]} pport=${peer_ports[$((i - 1))]}
  rm -rf "$dir"
  mkdir -p "$dir"
  etcd --name "e$i" --data-dir "$dir/data" --quota-backend-bytes $((8 << 30)) --snapshot-count "$snapshot_count" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$cluster" --initial-cluster-state "$cluster_state" --initial-cluster-token "catchup-$$" \
    --logger zap --log-level warn >"$dir/log" 2>&1 &
  pids+=($!)
  disown $!
}
cluster=""
for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:${peer_ports[$((i - 1))]}"; done
log "starting a 3-member etcd ($(etcd --version | head -1))"
for i in 1 2 3; do start_member "$i" "$cluster" new; done
urls="http://127.0.0.1:2379,http://127.0.0.1:22379,http://127.0.0.1:32379"
for _ in $(seq 1 100); do etcdctl --endpoints "$urls" endpoint health >/dev/null 2>&1 && break; sleep 0.3; done
etcdctl --endpoints "$urls" endpoint health >/dev/null 2>&1 || die "etcd not healthy after 30 s"
endpoints="127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"

keys=$(( state_mb * 1024 ))
log "filling ~$state_mb MB of state ($keys keys, 1 KiB values)"
"$bin/raft-bench" --target etcd --endpoints "$endpoints" --clients 64 --value-size 1024 --keys "$keys" --count "$keys" \
  --warmup 0 --sequential-keys --quiet >"$out/fill.log" 2>&1 || { tail -5 "$out/fill.log"; exit 1; }
grep RESULT "$out/fill.log" >&2 || true

# status URL: "leader-id raft-index raft-applied-index" of one member.
status() {
  etcdctl --endpoints "$1" endpoint status -w json 2>/dev/null \
    | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; i=s.get("raftIndex", s.get("raft_index", 0)); print(s["leader"], i, s.get("raftAppliedIndex", i))' 2>/dev/null || true
}
# Leader changes seen by the three first members (the new one counts its first leader).
leader_changes() {
  local total=0 n
  for p in "${client_ports[@]:0:3}"; do
    n=$(curl -s "http://127.0.0.1:$p/metrics" 2>/dev/null | awk '$1 == "etcd_server_leader_changes_seen_total" { print int($2) }')
    total=$(( total + ${n:-0} ))
  done
  echo "$total"
}
# The leader's pid: the member whose status names itself.
leader_index=0
for i in 1 2 3; do
  read -r lead _ _ <<<"$(status "http://127.0.0.1:${client_ports[$((i - 1))]}")"
  member=$(etcdctl --endpoints "http://127.0.0.1:${client_ports[$((i - 1))]}" endpoint status -w json 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["member_id"])' 2>/dev/null || true)
  [ -n "$member" ] && [ "$member" = "$lead" ] && leader_index=$i
done
[ $leader_index -gt 0 ] || die "no etcd leader found"
leader_pid=${pids[$((leader_index - 1))]}
sleep 2
leader_steady=$(pid_rss_mb "$leader_pid")
changes_before=$(leader_changes)

"$bin/raft-bench" --target etcd --endpoints "$endpoints" --clients "$clients" --value-size 1024 --keys "$keys" \
  --timeout 30 --duration 60 --warmup 1 --quiet >"$out/load.log" 2>&1 &
bench=$!
sleep 2
read -r _ target _ <<<"$(status "http://127.0.0.1:${client_ports[$((leader_index - 1))]}")"
echo 0 >"$out/leader.rss"; echo 0 >"$out/member.rss"
peak_rss "$leader_pid" "$out/leader.rss" & w1=$!
log "adding a fourth member (leader e$leader_index at raft index $target)"
t0=$(ms)
etcdctl --endpoints "$urls" member add e4 --peer-urls "http://127.0.0.1:${peer_ports[3]}" >"$out/member-add.log" 2>&1 \
  || { cat "$out/member-add.log" >&2; die "member add failed"; }
start_member 4 "$cluster,e4=http://127.0.0.1:${peer_ports[3]}" existing
peak_rss "${pids[3]}" "$out/member.rss" & w2=$!
applied=0
while [ "${applied:-0}" -lt "$target" ]; do
  [ $(( $(ms) - t0 )) -lt 600000 ] || { log "the new member did not catch up within 600 s"; break; }
  sleep 0.2
  read -r _ _ applied <<<"$(status "http://127.0.0.1:${client_ports[3]}")"
done
took=$(( $(ms) - t0 ))
kill "$w1" "$w2" 2>/dev/null || true
wait "$bench" || true
changes=$(( $(leader_changes) - changes_before ))
gap=$(sed -n 's/.*max_gap_us=\([0-9]*\).*/\1/p' "$out/load.log")
errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$out/load.log")
echo
echo "etcd-catchup-bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), etcd $(etcd --version | awk '/etcd Version/ { print $3 }'), $state_mb MB of raw state, $clients clients writing"
echo
echo "| member           | seconds | MB/s   | leader RSS +MB     | member RSS +MB     | leader changes | longest gap ms | errors |"
echo "|------------------|---------|--------|--------------------|--------------------|----------------|----------------|--------|"
printf '| %-16s | %7.1f | %6s | %18s | %18s | %14s | %14s | %6s |\n' "etcd join" \
  "$(awk -v ms="$took" 'BEGIN { print ms / 1000 }')" "$(awk -v mb="$state_mb" -v ms="$took" 'BEGIN { printf "%.0f", mb * 1000 / ms }')" \
  "$(( $(cat "$out/leader.rss") - leader_steady ))" "$(cat "$out/member.rss")" "$changes" "$(( ${gap:-0} / 1000 ))" "${errors:--}"
