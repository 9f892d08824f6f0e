# Helpers shared by deploy/membership-bench.sh, handover-bench.sh, snapshot-bench.sh,
# etcd-catchup-bench.sh and bench.sh (sourced, not run). They expect `root` (the repository),
# `out` (the script's log directory) and `bin` (the release binaries) to be set.

log() { echo "$(basename "$0"): $*" >&2; }
die() { log "$*"; exit 1; }
# Milliseconds on the wall clock.
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# build_release [SWIFT-BUILD-ARGS...]: a release build, its output in $out/build.log.
build_release() {
  log "building release"
  swift build -c release "$@" >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
}

# fresh_cluster [CLUSTER.SH-UP-FLAGS...]: a new local cluster (deploy/cluster.sh, data in
# ./.cluster removed first), stopped when the script exits.
fresh_cluster() {
  [ -f .cluster/members ] && deploy/cluster.sh down >/dev/null 2>&1 || true
  rm -rf .cluster
  deploy/cluster.sh up "$@" >"$out/up.log" 2>&1 || { tail -20 "$out/up.log"; exit 1; }
  trap 'deploy/cluster.sh down >/dev/null 2>&1 || true' EXIT
}

# The id of the cluster's leader (status fails while a member is down: what it printed counts).
leader() { { deploy/cluster.sh status 2>/dev/null || true; } | awk '$3 == "leader" { print $2; exit }'; }
# Member ID's own status line (raftctl status, no redirect), empty when it does not answer.
status_of() { { "$bin/raftctl" --endpoints "127.0.0.1:$((7100 + $1))" --timeout 2 status 2>/dev/null || true; } | awk 'NR == 2'; }
pid_of() { cat ".cluster/node$1/pid"; }
# RSS of process PID in MB (0 once it is gone); of cluster member ID ("-" when not running).
pid_rss_mb() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_mb() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$(pid_of "$1")/status" 2>/dev/null || echo "-"; }
# peak_rss PID FILE: samples the RSS of PID every 100 ms into FILE (its peak, MB) until it exits
# or is killed.
peak_rss() {
  local peak=0 r
  while [ -e "/proc/$1" ]; do
    r=$(pid_rss_mb "$1")
    [ "${r:-0}" -gt "$peak" ] && { peak=$r; echo "$peak" >"$2"; }
    sleep 0.1
  done
}

# ---------------------------------------------------------------- members outside deploy/cluster.sh
# For a script that runs several clusters side by side (deploy/bench.sh --tls): three members
# started as deploy/cluster.sh starts its members, on ports and in a directory of the caller's
# choosing; nothing in ./.cluster/members or .cluster/node<ID>/ is touched.

# start_raft_members DIR PEER_BASE CLIENT_BASE METRICS_BASE [CERT_DIR]: a new 3-member cluster
# (DIR/node<i>/ removed first; data, log and pid there): member i listens for peers on
# PEER_BASE+i, for clients on CLIENT_BASE+i and serves its metrics page on METRICS_BASE+i, all on
# 127.0.0.1. With CERT_DIR (the files of deploy/certs.sh: ca.pem, member-<i>.pem,
# member-<i>-key.pem) every port speaks TLS: mutual TLS between members, client certificates
# signed by the CA required on the client port, HTTPS metrics. Does not wait for a leader
# (wait_raft_leader).
start_raft_members() {
  local dir=$1 peer_base=$2 client_base=$3 metrics_base=$4 certs=${5:-}
  local cluster="" clients="" i
  for i in 1 2 3; do
    cluster+="${cluster:+,}$i=127.0.0.1:$((peer_base + i))"
    clients+="${clients:+,}$i=127.0.0.1:$((client_base + i))"
  done
  for i in 1 2 3; do
    local node="$dir/node$i" tls=()
    if [ -n "$certs" ]; then
      local cert="$certs/member-$i.pem" key="$certs/member-$i-key.pem" ca="$certs/ca.pem"
      [ -r "$cert" ] && [ -r "$key" ] && [ -r "$ca" ] || die "no certificate, key or CA for member $i in $certs (deploy/certs.sh --dir $certs)"
      tls=(--peer-cert-file "$cert" --peer-key-file "$key" --peer-trusted-ca-file "$ca"
        --cert-file "$cert" --key-file "$key" --trusted-ca-file "$ca"
        --metrics-cert-file "$cert" --metrics-key-file "$key")
    fi
    rm -rf "$node"
    mkdir -p "$node"
    nohup "$bin/raft-node" --id "$i" --cluster "$cluster" --client-addresses "$clients" \
      --client-listen "127.0.0.1:$((client_base + i))" --metrics-listen "127.0.0.1:$((metrics_base + i))" \
      --data-dir "$node/data" "${tls[@]}" >>"$node/log" 2>&1 &
    echo $! >"$node/pid"
  done
}

# raft_member_alive PIDFILE: the process in PIDFILE runs and is a raft-node (not a reused pid).
raft_member_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && grep -q raft-node "/proc/$(cat "$1")/cmdline" 2>/dev/null
}

# raft_member_pids DIR: the pids of DIR's members, space-separated.
raft_member_pids() { local i; for i in 1 2 3; do printf '%s ' "$(cat "$1/node$i/pid")"; done; }

# wait_raft_leader DIR ENDPOINTS [RAFTCTL-FLAGS...]: waits (at most 30 s) until a member of DIR
# says it leads; fails, with the last lines of its log, as soon as a member exits.
wait_raft_leader() {
  local dir=$1 endpoints=$2 i; shift 2
  for _ in $(seq 1 100); do
    if "$bin/raftctl" --endpoints "$endpoints" --timeout 2 "$@" status 2>/dev/null | grep -q " leader "; then return 0; fi
    for i in 1 2 3; do
      raft_member_alive "$dir/node$i/pid" || { tail -5 "$dir/node$i/log" >&2; die "member $i of $dir exited"; }
    done
    sleep 0.3
  done
  "$bin/raftctl" --endpoints "$endpoints" --timeout 2 "$@" status >&2 || true
  die "no leader in $dir after 30 s (logs: $dir/node*/log)"
}

# stop_raft_members DIR: SIGTERM to DIR's members that still run, SIGKILL to any left after 10 s.
stop_raft_members() {
  local dir=$1 i
  for i in 1 2 3; do raft_member_alive "$dir/node$i/pid" && kill -TERM "$(cat "$dir/node$i/pid")" 2>/dev/null; done
  for _ in $(seq 1 100); do
    local running=0
    for i in 1 2 3; do raft_member_alive "$dir/node$i/pid" && running=1; done
    [ $running -eq 0 ] && break
    sleep 0.1
  done
  for i in 1 2 3; do
    if raft_member_alive "$dir/node$i/pid"; then
      log "member $i of $dir ignored SIGTERM for 10 s; killing it"
      kill -KILL "$(cat "$dir/node$i/pid")" 2>/dev/null || true
    fi
    rm -f "$dir/node$i/pid"
  done
}
