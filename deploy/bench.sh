#!/usr/bin/env bash
# Side-by-side benchmark of swift-raft and etcd on this machine: the same raft-bench
# workload against our 3-node cluster and a 3-member etcd, both on loopback with data on the same
# disk and the same durability (etcd fsyncs its WAL; ours fsyncs on a majority before it answers).
#
#   deploy/bench.sh [--quick] [--failover] [--no-build]
#   deploy/bench.sh --catch-up [--no-build]
#
#   --quick       5-second runs, clients 1 and 64 only (a smoke test of the whole script)
#   --failover    also run deploy/failover.sh 20 on our cluster (kill -9 the leader 20 times)
#   --catch-up    instead of the table: large-state snapshots and catch-up on both systems
#                 (deploy/snapshot-bench.sh, then deploy/etcd-catchup-bench.sh) with
#                 BENCH_STATE_MB (default 1024) MB of 1 KiB values, both snapshotting every
#                 100,000 entries
#   --no-build    use the release binaries already in .build/release
#
# Environment: BENCH_SECONDS (default 20) seconds per run; BENCH_WARMUP (default 2);
# BENCH_CLIENTS (default "1 16 64"); RAFT_BENCH_BIN to use another raft-bench binary.
# Workload: 256-byte values over 1000 keys, one request at a time per client; writes at each
# client count, then 64-client linearizable read runs: all reads to the leader (read-c64), and
# spread over the three members (read-c64-all: client i reads from member i mod 3; ours with
# --read-from all, etcd with --etcd-routing round-robin). Prints one table with both systems and
# ours/etcd ratios, the spread/leader-only read ratio of each, and each member's RSS idle and at
# peak under 64 writing clients.
#
# Installs Debian etcd-server/etcd-client when missing. Starts our cluster with fresh data
# (deploy/cluster.sh up) and three etcd members (client ports 2379, 22379, 32379; peer ports
# 2380, 22380, 32380; data under .cluster/etcd<i>); stops exactly what it started (trap on EXIT).
# Refuses to run when a deploy/cluster.sh cluster is already up or an etcd port is taken.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.cluster"
out="$state/bench"
seconds=${BENCH_SECONDS:-20}
warmup=${BENCH_WARMUP:-2}
client_counts=${BENCH_CLIENTS:-"1 16 64"}
read_clients=64
build=1
failover=0
catch_up=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) seconds=${BENCH_SECONDS:-5}; warmup=${BENCH_WARMUP:-1}; client_counts=${BENCH_CLIENTS:-"1 64"}; shift ;;
    --failover) failover=1; shift ;;
    --catch-up) catch_up=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "bench.sh: BENCH_SECONDS must be a whole number" >&2; exit 64 ;; esac

die() { echo "bench.sh: $*" >&2; exit 1; }
if [ $catch_up -eq 1 ]; then
  state_mb=${BENCH_STATE_MB:-1024}
  case "$state_mb" in ''|*[!0-9]*) echo "bench.sh: BENCH_STATE_MB must be a whole number" >&2; exit 64 ;; esac
  flags=(); [ $build -eq 0 ] && flags+=(--no-build)
  # Both systems snapshot every 100,000 entries (etcd 3.4's default --snapshot-count): with a
  # 1 GiB state, snapshotting more often keeps the two shared cores busy compressing, and what
  # a catch-up measures becomes that contention.
  deploy/snapshot-bench.sh --state-mb "$state_mb" --snapshot-entries 100000 "${flags[@]}"
  deploy/etcd-catchup-bench.sh --state-mb "$state_mb" --snapshot-count 100000 --no-build
  exit 0
fi
log() { echo "bench.sh: $*" >&2; }
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

client_base=${RAFT_CLIENT_PORT_BASE:-7100}
raft_endpoints="127.0.0.1:$((client_base + 1)),127.0.0.1:$((client_base + 2)),127.0.0.1:$((client_base + 3))"
etcd_client_ports=(2379 22379 32379)
etcd_peer_ports=(2380 22380 32380)
etcd_endpoints="127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"

# ---------------------------------------------------------------- what we started, and cleanup
cluster_started=0
etcd_pids=()
bench_pid=""
cleanup() {
  local rc=$?
  set +e
  [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null
  stop_etcd
  if [ $cluster_started -eq 1 ]; then deploy/cluster.sh down >/dev/null 2>&1; cluster_started=0; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_etcd() {
  [ ${#etcd_pids[@]} -gt 0 ] || return 0
  local pid
  for pid in "${etcd_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 150); do
    local running=0
    for pid in "${etcd_pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
    [ $running -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${etcd_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && { log "etcd pid $pid ignored SIGTERM for 15 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  done
  etcd_pids=()
}

# ---------------------------------------------------------------- set-up
port_taken() { ss -ltn 2>/dev/null | awk '{ print $4 }' | grep -q ":$1\$"; }

if ! command -v etcd >/dev/null; then
  log "installing etcd-server etcd-client"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
  # The package enables a systemd unit on port 2379; where systemd runs, keep it out of the way.
  if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then systemctl stop etcd || true; fi
fi
command -v ss >/dev/null || die "ss (iproute2) is needed"

if [ -f "$state/members" ]; then
  for i in $(case "$(cat "$state/members")" in ids:*) cut -d: -f2 "$state/members" ;; *) seq 1 "$(cat "$state/members")" ;; esac); do
    pidfile="$state/node$i/pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      die "a deploy/cluster.sh cluster is running; run 'deploy/cluster.sh down' first"
    fi
  done
fi
for p in "${etcd_client_ports[@]}" "${etcd_peer_ports[@]}"; do port_taken "$p" && die "port $p is in use (another etcd?)"; done
for i in 1 2 3; do port_taken $((client_base + i)) && die "port $((client_base + i)) is in use"; done

bench=${RAFT_BENCH_BIN:-$root/.build/release/raft-bench}
if [ $build -eq 1 ]; then
  log "building release (raft-node, raftctl, raft-bench)"
  mkdir -p "$state"
  swift build -c release --product raft-node >"$state/bench-build.log" 2>&1 || { tail -20 "$state/bench-build.log"; die "build failed"; }
  swift build -c release --product raftctl >>"$state/bench-build.log" 2>&1 || { tail -20 "$state/bench-build.log"; die "build failed"; }
  if [ -z "${RAFT_BENCH_BIN:-}" ]; then
    swift build -c release --product raft-bench >>"$state/bench-build.log" 2>&1 || { tail -20 "$state/bench-build.log"; die "build failed"; }
  fi
fi
[ -x "$bench" ] || die "no raft-bench at $bench"

rm -rf "$out"
mkdir -p "$out"

# RSS in kB of each pid given, space-separated.
rss_of() { local pid; for pid in "$@"; do awk '/^VmRSS:/ { printf "%d ", $2 }' "/proc/$pid/status" 2>/dev/null || printf '0 '; done; }

# Runs raft-bench; appends its RESULT line (prefixed with a label) to $out/results. With a
# pid list in $watch_pids, samples their RSS every second and keeps each one's peak.
run_bench() {
  local system=$1 label=$2 endpoints=$3; shift 3
  log "$system $label: ${seconds}s"
  "$bench" --target "$system" --endpoints "$endpoints" --duration "$seconds" --warmup "$warmup" \
    --value-size 256 --keys 1000 "$@" >"$out/$system-$label.out" 2>"$out/$system-$label.err" &
  bench_pid=$!
  local peaks=()
  while kill -0 "$bench_pid" 2>/dev/null; do
    if [ -n "${watch_pids:-}" ]; then
      # shellcheck disable=SC2086
      read -r -a now <<<"$(rss_of $watch_pids)"
      for k in "${!now[@]}"; do
        [ "${now[$k]}" -gt "${peaks[$k]:-0}" ] && peaks[$k]=${now[$k]}
      done
    fi
    sleep 1
  done
  local rc=0
  wait "$bench_pid" || rc=$?
  bench_pid=""
  [ $rc -eq 0 ] || { tail -5 "$out/$system-$label.err" >&2; log "$system $label: raft-bench exited $rc"; }
  local line
  line=$(grep '^RESULT ' "$out/$system-$label.out" || true)
  [ -n "$line" ] || line="RESULT target=$system ops=0 ops_per_s=0 p50_us=- p99_us=- p999_us=- errors=-"
  echo "label=$label $line" >>"$out/results"
  sed -n '1,3p' "$out/$system-$label.out" >&2
  [ -n "${watch_pids:-}" ] && echo "$system load ${peaks[*]}" >>"$out/rss"
  return 0
}

# The whole workload against one system: writes at each client count, then reads.
workload() {
  local system=$1 endpoints=$2 pids=$3
  echo "$system idle $(rss_of $pids)" >>"$out/rss"
  for c in $client_counts; do
    if [ "$c" = 64 ]; then watch_pids=$pids; else watch_pids=""; fi
    run_bench "$system" "write-c$c" "$endpoints" --clients "$c"
  done
  watch_pids=""
  run_bench "$system" "read-c$read_clients" "$endpoints" --clients "$read_clients" --read-ratio 1
  local spread=(--read-from all)
  [ "$system" = etcd ] && spread=(--etcd-routing round-robin)
  run_bench "$system" "read-c$read_clients-all" "$endpoints" --clients "$read_clients" --read-ratio 1 "${spread[@]}"
}

# ---------------------------------------------------------------- swift-raft
log "starting our 3-node cluster (fresh data)"
rm -rf "$state"/node* "$state/members" "$state/next-id"
cluster_started=1
cluster_flags=(-n 3)
[ $build -eq 0 ] && cluster_flags+=(--no-build)
RAFT_LOG_LEVEL=${RAFT_LOG_LEVEL:-warning} deploy/cluster.sh up "${cluster_flags[@]}" >"$out/cluster-up.log" 2>&1 || { tail -20 "$out/cluster-up.log" >&2; die "cluster.sh up failed"; }
sleep 2
raft_pids="$(cat "$state"/node1/pid) $(cat "$state"/node2/pid) $(cat "$state"/node3/pid)"
workload swift-raft "$raft_endpoints" "$raft_pids"
if [ $failover -eq 1 ]; then
  log "failover: 20 kills of the leader"
  deploy/failover.sh 20 | tee "$out/failover.log" >&2 || log "failover.sh failed"
fi
deploy/cluster.sh down >/dev/null 2>&1 || true
cluster_started=0

# ---------------------------------------------------------------- etcd
log "starting a 3-member etcd ($(etcd --version | head -1))"
initial=""
for i in 1 2 3; do initial+="${initial:+,}e$i=http://127.0.0.1:${etcd_peer_ports[$((i - 1))]}"; done
for i in 1 2 3; do
  dir="$state/etcd$i"
  rm -rf "$dir"
  mkdir -p "$dir"
  cport=${etcd_client_ports[$((i - 1))]}
  pport=${etcd_peer_ports[$((i - 1))]}
  # Default durability: the WAL is fsynced before a write is acknowledged (no --unsafe-no-fsync).
  etcd --name "e$i" --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token "bench-$$" \
    --logger zap --log-level warn >"$dir/log" 2>&1 &
  etcd_pids+=($!)
  disown $!
done
healthy=0
etcd_urls="http://127.0.0.1:2379,http://127.0.0.1:22379,http://127.0.0.1:32379"
for _ in $(seq 1 100); do
  if ETCDCTL_API=3 etcdctl --endpoints "$etcd_urls" endpoint health >/dev/null 2>&1; then
    healthy=1; break
  fi
  for pid in "${etcd_pids[@]}"; do kill -0 "$pid" 2>/dev/null || { tail -5 "$state"/etcd*/log >&2; die "an etcd member exited"; }; done
  sleep 0.3
done
[ $healthy -eq 1 ] || die "etcd not healthy after 30 s"
sleep 2
workload etcd "$etcd_endpoints" "${etcd_pids[*]}"
stop_etcd

# ---------------------------------------------------------------- the table
field() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' <<<"$1"; }
result() { grep "^label=$2 RESULT target=$1 " "$out/results" | head -1 || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2fx", a / b; else print "-" }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "-" || u == "") print "-"; else printf "%.2f", u / 1000 }'; }

{
  echo
  echo "## swift-raft vs etcd — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
  echo "$(awk -F: '/model name/ { gsub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo); etcd $(etcd --version | awk '/etcd Version/ { print $3 }'); ${seconds}s per run, 256-byte values, 1000 keys, pipeline 1"
  echo
  printf '| %-13s | %12s | %12s | %7s | %-17s | %-17s | %-17s | %s |\n' workload "ours ops/s" "etcd ops/s" "ours/etcd" "p50 ms ours/etcd" "p99 ms ours/etcd" "p999 ms ours/etcd" "errors ours/etcd"
  echo "|---------------|--------------|--------------|---------|-------------------|-------------------|-------------------|-----|"
  labels=""
  for c in $client_counts; do labels+=" write-c$c"; done
  labels+=" read-c$read_clients read-c$read_clients-all"
  for label in $labels; do
    a=$(result swift-raft "$label"); b=$(result etcd "$label")
    ao=$(field "$a" ops_per_s); bo=$(field "$b" ops_per_s)
    printf '| %-13s | %12s | %12s | %7s | %-17s | %-17s | %-17s | %s |\n' "$label" "${ao:--}" "${bo:--}" "$(ratio "${ao:--}" "${bo:-0}")" \
      "$(ms "$(field "$a" p50_us)") / $(ms "$(field "$b" p50_us)")" \
      "$(ms "$(field "$a" p99_us)") / $(ms "$(field "$b" p99_us)")" \
      "$(ms "$(field "$a" p999_us)") / $(ms "$(field "$b" p999_us)")" \
      "$(field "$a" errors) / $(field "$b" errors)"
  done
  echo
  for system in swift-raft etcd; do
    lo=$(field "$(result "$system" "read-c$read_clients")" ops_per_s)
    so=$(field "$(result "$system" "read-c$read_clients-all")" ops_per_s)
    printf 'reads spread over the members / leader-only (%s clients): %-10s %s\n' "$read_clients" "$system" "$(ratio "${so:--}" "${lo:-0}")"
  done
  echo
  echo "RSS per member (MB): idle, and peak during the 64-client write run"
  for system in swift-raft etcd; do
    idle=$(awk -v s="$system" '$1 == s && $2 == "idle" { for (i = 3; i <= NF; i++) printf "%.1f ", $i / 1024 }' "$out/rss" 2>/dev/null)
    load=$(awk -v s="$system" '$1 == s && $2 == "load" { for (i = 3; i <= NF; i++) printf "%.1f ", $i / 1024 }' "$out/rss" 2>/dev/null)
    printf '  %-10s idle: %-20s at 64 clients: %s\n' "$system" "${idle:--}" "${load:--}"
  done
  if [ -f "$out/failover.log" ]; then echo; tail -1 "$out/failover.log"; fi
  echo
  echo "raw: $out/results"
} | tee "$out/table.md"
