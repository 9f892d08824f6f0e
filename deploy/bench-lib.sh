# Helpers shared by deploy/membership-bench.sh, handover-bench.sh, snapshot-bench.sh and
# etcd-catchup-bench.sh (sourced, not run). They expect `root` (the repository), `out` (the
# script's log directory) and `bin` (the release binaries) to be set.

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
