#!/usr/bin/env bash
# Side-by-side benchmark of swift-raft and etcd on this machine: the same raft-bench
# workload against our 3-node cluster and a 3-member etcd, both on loopback with data on the same
# disk and the same durability (etcd fsyncs its WAL; ours fsyncs on a majority before it answers).
#
#   deploy/bench.sh [--quick] [--failover] [--no-build]
#   deploy/bench.sh --tls [--quick] [--no-build]
#   deploy/bench.sh --catch-up [--no-build]
#
#   --quick       5-second runs, clients 1 and 64 only (a smoke test of the whole script)
#   --tls         instead of the table: what transport security costs. write-c1, write-c64 and
#                 read-c64 against our cluster in plaintext, our cluster with TLS (mutual TLS
#                 between members, client certificates required on the client port, HTTPS
#                 metrics) and etcd with TLS on peer and client URLs (--peer-client-cert-auth,
#                 --client-cert-auth); raft-bench presents a client certificate to both. The
#                 three systems run side by side for the whole comparison (ours in plaintext on
#                 the ports of deploy/cluster.sh, ours with TLS 10 above them: peers 7011-7013,
#                 clients 7111-7113, metrics 7211-7213) and each workload runs against all three
#                 back to back, in reverse order every other workload, with the same clients and
#                 duration; the two not measured are idle. Certificates are made for the run by
#                 deploy/certs.sh in a temporary directory under .cluster/ (removed at exit);
#                 results and logs in .cluster/bench-tls/. Prints ours plaintext, ours TLS,
#                 TLS/plaintext (the goal: TLS costs us at most 15% at 64 clients), etcd TLS and
#                 ours-TLS/etcd-TLS, and exits 1 if a run measured nothing. BENCH_SECONDS,
#                 BENCH_WARMUP and --quick apply; BENCH_CLIENTS does not
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
# Refuses to run when a deploy/cluster.sh cluster is already up or a port it needs is taken.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.cluster"
out="$state/bench"
bin="$root/.build/release"
# shellcheck source=deploy/bench-lib.sh
source "$root/deploy/bench-lib.sh"
seconds=${BENCH_SECONDS:-20}
warmup=${BENCH_WARMUP:-2}
client_counts=${BENCH_CLIENTS:-"1 16 64"}
read_clients=64
build=1
failover=0
catch_up=0
tls=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) seconds=${BENCH_SECONDS:-5}; warmup=${BENCH_WARMUP:-1}; client_counts=${BENCH_CLIENTS:-"1 64"}; shift ;;
    --failover) failover=1; shift ;;
    --catch-up) catch_up=1; shift ;;
    --tls) tls=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "bench.sh: BENCH_SECONDS must be a whole number" >&2; exit 64 ;; esac
if [ $tls -eq 1 ] && { [ $catch_up -eq 1 ] || [ $failover -eq 1 ]; }; then
  echo "bench.sh: --tls does not go with --catch-up or --failover" >&2; exit 64
fi

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
peer_base=${RAFT_PEER_PORT_BASE:-7000}
metrics_base=${RAFT_METRICS_PORT_BASE:-7200}
# --tls: our TLS cluster's ports are 10 above the plaintext one's.
tls_offset=10
raft_endpoints="127.0.0.1:$((client_base + 1)),127.0.0.1:$((client_base + 2)),127.0.0.1:$((client_base + 3))"
etcd_client_ports=(2379 22379 32379)
etcd_peer_ports=(2380 22380 32380)
etcd_endpoints="127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"

# ---------------------------------------------------------------- what we started, and cleanup
cluster_started=0
etcd_pids=()
bench_pid=""
# --tls: the directories of the members started with start_raft_members, and the certificates.
raft_dirs=()
tls_tmp=""
cleanup() {
  local rc=$?
  set +e
  [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null
  stop_etcd
  if [ $cluster_started -eq 1 ]; then deploy/cluster.sh down >/dev/null 2>&1; cluster_started=0; fi
  local dir
  for dir in "${raft_dirs[@]}"; do stop_raft_members "$dir"; done
  raft_dirs=()
  [ -n "$tls_tmp" ] && rm -rf "$tls_tmp"
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
if [ $tls -eq 1 ]; then
  command -v openssl >/dev/null || die "openssl is needed for --tls (Debian: apt-get install openssl)"
  for base in "$peer_base" "$client_base" "$metrics_base"; do
    for p in $((base + 1)) $((base + 2)) $((base + 3)) $((base + tls_offset + 1)) $((base + tls_offset + 2)) $((base + tls_offset + 3)); do
      port_taken "$p" && die "port $p is in use (another cluster?)"
    done
  done
fi

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

[ $tls -eq 1 ] && out="$state/bench-tls"
rm -rf "$out"
mkdir -p "$out"

# RSS in kB of each pid given, space-separated.
rss_of() { local pid; for pid in "$@"; do awk '/^VmRSS:/ { printf "%d ", $2 }' "/proc/$pid/status" 2>/dev/null || printf '0 '; done; }

# Runs raft-bench; appends its RESULT line (prefixed with a label) to $out/results. With a
# pid list in $watch_pids, samples their RSS every second and keeps each one's peak (recorded
# in $out/rss under $rss_name, default the system).
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
  [ -n "${watch_pids:-}" ] && echo "${rss_name:-$system} load ${peaks[*]}" >>"$out/rss"
  return 0
}

# Reading $out/results: FIELD of a RESULT line; the line of SYSTEM's run LABEL; A/B as "1.23x";
# microseconds as milliseconds.
field() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' <<<"$1"; }
result() { grep "^label=$2 RESULT target=$1 " "$out/results" | head -1 || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2fx", a / b; else print "-" }'; }
us_ms() { awk -v u="$1" 'BEGIN { if (u == "-" || u == "") print "-"; else printf "%.2f", u / 1000 }'; }

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

# start_etcd DIR_PREFIX [CERT_DIR]: a new 3-member etcd on the etcd ports (member i's data and
# log in DIR_PREFIX<i>/, removed first), its pids in etcd_pids; waits (at most 30 s) until every
# member is healthy. With CERT_DIR (deploy/certs.sh's files) the client and peer URLs are https:
# member i serves member-<i>.pem on both, and requires certificates signed by ca.pem of clients
# (--client-cert-auth) and of peers (--peer-client-cert-auth).
start_etcd() {
  local prefix=$1 certs=${2:-} scheme=http i
  local ctl_tls=()
  if [ -n "$certs" ]; then
    scheme=https
    ctl_tls=(--cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client-key.pem")
  fi
  log "starting a 3-member etcd ($(etcd --version | head -1))${certs:+ with TLS}"
  local initial="" urls=""
  for i in 1 2 3; do
    initial+="${initial:+,}e$i=$scheme://127.0.0.1:${etcd_peer_ports[$((i - 1))]}"
    urls+="${urls:+,}$scheme://127.0.0.1:${etcd_client_ports[$((i - 1))]}"
  done
  for i in 1 2 3; do
    local dir="$prefix$i" cport=${etcd_client_ports[$((i - 1))]} pport=${etcd_peer_ports[$((i - 1))]}
    local tls_flags=()
    if [ -n "$certs" ]; then
      tls_flags=(--cert-file "$certs/member-$i.pem" --key-file "$certs/member-$i-key.pem"
        --trusted-ca-file "$certs/ca.pem" --client-cert-auth
        --peer-cert-file "$certs/member-$i.pem" --peer-key-file "$certs/member-$i-key.pem"
        --peer-trusted-ca-file "$certs/ca.pem" --peer-client-cert-auth)
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    # Default durability: the WAL is fsynced before a write is acknowledged (no --unsafe-no-fsync).
    etcd --name "e$i" --data-dir "$dir/data" \
      --listen-client-urls "$scheme://127.0.0.1:$cport" --advertise-client-urls "$scheme://127.0.0.1:$cport" \
      --listen-peer-urls "$scheme://127.0.0.1:$pport" --initial-advertise-peer-urls "$scheme://127.0.0.1:$pport" \
      --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token "bench-$$" \
      --logger zap --log-level warn "${tls_flags[@]}" >"$dir/log" 2>&1 &
    etcd_pids+=($!)
    disown $!
  done
  local pid
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints "$urls" "${ctl_tls[@]}" endpoint health >/dev/null 2>&1; then
      return 0
    fi
    for pid in "${etcd_pids[@]}"; do kill -0 "$pid" 2>/dev/null || { tail -5 "$prefix"*/log >&2; die "an etcd member exited"; }; done
    sleep 0.3
  done
  ETCDCTL_API=3 etcdctl --endpoints "$urls" "${ctl_tls[@]}" endpoint health >&2 || true
  die "etcd not healthy after 30 s (logs: $prefix<i>/log)"
}

# ---------------------------------------------------------------- --tls: plaintext vs TLS
# tls_table: the comparison table of a --tls run, from $out/results and $out/rss.
tls_table() {
  local label a b c ao bo co
  echo
  echo "## swift-raft plaintext vs TLS, and etcd TLS — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
  echo "$(awk -F: '/model name/ { gsub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo); etcd $(etcd --version | awk '/etcd Version/ { print $3 }'); ${seconds}s per run, 256-byte values, 1000 keys, pipeline 1"
  echo "TLS: certificates of deploy/certs.sh (ECDSA P-256); mutual TLS between members; client certificates required by both systems"
  echo
  printf '| %-10s | %10s | %10s | %9s | %10s | %14s | %-24s | %-24s | %-11s |\n' workload "ours plain" "ours TLS" "TLS/plain" "etcd TLS" "ours/etcd TLS" \
    "p50 ms plain/TLS/etcd" "p99 ms plain/TLS/etcd" "errors"
  echo "|------------|------------|------------|-----------|------------|----------------|--------------------------|--------------------------|-------------|"
  for label in $tls_labels; do
    a=$(result swift-raft "plain-$label"); b=$(result swift-raft "tls-$label"); c=$(result etcd "tls-$label")
    ao=$(field "$a" ops_per_s); bo=$(field "$b" ops_per_s); co=$(field "$c" ops_per_s)
    printf '| %-10s | %10s | %10s | %9s | %10s | %14s | %-24s | %-24s | %-11s |\n' "$label" "${ao:--}" "${bo:--}" \
      "$(ratio "${bo:--}" "${ao:-0}")" "${co:--}" "$(ratio "${bo:--}" "${co:-0}")" \
      "$(us_ms "$(field "$a" p50_us)") / $(us_ms "$(field "$b" p50_us)") / $(us_ms "$(field "$c" p50_us)")" \
      "$(us_ms "$(field "$a" p99_us)") / $(us_ms "$(field "$b" p99_us)") / $(us_ms "$(field "$c" p99_us)")" \
      "$(field "$a" errors) / $(field "$b" errors) / $(field "$c" errors)"
  done
  echo
  echo "ops/s; ratios are ours TLS over ours plaintext, and ours TLS over etcd TLS."
  for label in write-c64 read-c64; do
    ao=$(field "$(result swift-raft "plain-$label")" ops_per_s); bo=$(field "$(result swift-raft "tls-$label")" ops_per_s)
    awk -v l="$label" -v a="${ao:-0}" -v b="${bo:-0}" 'BEGIN {
      if (a + 0 <= 0 || b + 0 <= 0) { printf "TLS cost, %s: not measured\n", l; exit }
      cost = (1 - b / a) * 100
      printf "TLS cost, %s: %.1f%% of plaintext throughput (goal: at most 15%%) — %s\n", l, cost, cost <= 15 ? "met" : "NOT MET"
    }'
  done
  echo
  echo "RSS per member (MB): idle, and peak during the 64-client write run"
  local system idle load
  for system in ours-plain ours-tls etcd-tls; do
    idle=$(awk -v s="$system" '$1 == s && $2 == "idle" { for (i = 3; i <= NF; i++) printf "%.1f ", $i / 1024 }' "$out/rss" 2>/dev/null)
    load=$(awk -v s="$system" '$1 == s && $2 == "load" { for (i = 3; i <= NF; i++) printf "%.1f ", $i / 1024 }' "$out/rss" 2>/dev/null)
    printf '  %-10s idle: %-20s at 64 clients: %s\n' "$system" "${idle:--}" "${load:--}"
  done
  echo
  echo "raw: $out/results"
}

# tls_run LABEL SYSTEM ARGS...: one workload LABEL against SYSTEM (ours-plain, ours-tls or
# etcd-tls); RSS watched during write-c64.
tls_run() {
  local label=$1 system=$2; shift 2
  local target=swift-raft endpoints=$raft_endpoints pids variant=tls tls_args=()
  case "$system" in
    ours-plain) variant=plain; pids=$(raft_member_pids "$out/ours-plain") ;;
    ours-tls) endpoints=$raft_tls_endpoints; pids=$(raft_member_pids "$out/ours-tls"); tls_args=("${tls_client_flags[@]}") ;;
    etcd-tls) target=etcd; endpoints=$etcd_tls_endpoints; pids="${etcd_pids[*]}"; tls_args=("${tls_client_flags[@]}") ;;
  esac
  if [ "$label" = write-c64 ]; then watch_pids=$pids; else watch_pids=""; fi
  rss_name=$system run_bench "$target" "$variant-$label" "$endpoints" "${tls_args[@]}" "$@"
  watch_pids=""
}

if [ $tls -eq 1 ]; then
  tls_tmp=$(mktemp -d "$state/bench-tls-certs.XXXXXX")
  certs="$tls_tmp/certs"
  log "making certificates (deploy/certs.sh --dir $certs)"
  deploy/certs.sh --dir "$certs" >"$out/certs.log" 2>&1 || { cat "$out/certs.log" >&2; die "deploy/certs.sh failed"; }
  tls_client_flags=(--cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client-key.pem")
  raft_tls_endpoints=""
  etcd_tls_endpoints=""
  for i in 1 2 3; do
    raft_tls_endpoints+="${raft_tls_endpoints:+,}127.0.0.1:$((client_base + tls_offset + i))"
    etcd_tls_endpoints+="${etcd_tls_endpoints:+,}https://127.0.0.1:${etcd_client_ports[$((i - 1))]}"
  done
  export RAFT_LOG_LEVEL=${RAFT_LOG_LEVEL:-warning}

  log "starting our 3-node cluster in plaintext (clients on $raft_endpoints) and with TLS (clients on $raft_tls_endpoints)"
  raft_dirs+=("$out/ours-plain")
  start_raft_members "$out/ours-plain" "$peer_base" "$client_base" "$metrics_base"
  raft_dirs+=("$out/ours-tls")
  start_raft_members "$out/ours-tls" $((peer_base + tls_offset)) $((client_base + tls_offset)) $((metrics_base + tls_offset)) "$certs"
  wait_raft_leader "$out/ours-plain" "$raft_endpoints"
  wait_raft_leader "$out/ours-tls" "$raft_tls_endpoints" "${tls_client_flags[@]}"
  start_etcd "$out/etcd-tls" "$certs"
  sleep 2
  echo "ours-plain idle $(rss_of $(raft_member_pids "$out/ours-plain"))" >>"$out/rss"
  echo "ours-tls idle $(rss_of $(raft_member_pids "$out/ours-tls"))" >>"$out/rss"
  echo "etcd-tls idle $(rss_of "${etcd_pids[@]}")" >>"$out/rss"

  tls_labels="write-c1 write-c64 read-c$read_clients"
  order=(ours-plain ours-tls etcd-tls)
  for label in $tls_labels; do
    case "$label" in
      write-c*) workload_args=(--clients "${label#write-c}") ;;
      read-c*) workload_args=(--clients "${label#read-c}" --read-ratio 1) ;;
    esac
    for system in "${order[@]}"; do tls_run "$label" "$system" "${workload_args[@]}"; done
    # Every other workload the other way round: no system always runs first or last.
    order=("${order[2]}" "${order[1]}" "${order[0]}")
  done

  stop_etcd
  for dir in "${raft_dirs[@]}"; do stop_raft_members "$dir"; done
  raft_dirs=()
  # Keep the logs, not the data.
  rm -rf "$out"/ours-plain/node*/data "$out"/ours-tls/node*/data "$out"/etcd-tls*/data
  tls_table | tee "$out/table.md"
  missing=0
  for label in $tls_labels; do
    for key in "swift-raft plain-$label" "swift-raft tls-$label" "etcd tls-$label"; do
      # shellcheck disable=SC2086
      ops=$(field "$(result $key)" ops)
      [ -n "$ops" ] && [ "$ops" != 0 ] || { log "no measurement for $key (see $out/*-$label.err)"; missing=1; }
    done
  done
  exit $missing
fi

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
start_etcd "$state/etcd"
sleep 2
workload etcd "$etcd_endpoints" "${etcd_pids[*]}"
stop_etcd

# ---------------------------------------------------------------- the table
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
      "$(us_ms "$(field "$a" p50_us)") / $(us_ms "$(field "$b" p50_us)")" \
      "$(us_ms "$(field "$a" p99_us)") / $(us_ms "$(field "$b" p99_us)")" \
      "$(us_ms "$(field "$a" p999_us)") / $(us_ms "$(field "$b" p999_us)")" \
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
