#!/usr/bin/env bash
# Runs a local swift-raft cluster on loopback.
#
#   deploy/cluster.sh up [-n 3|5] [--no-build]
#                                   install what is missing, build release, start the members,
#                                   wait for a leader, print the addresses (harmless if running);
#                                   --no-build runs the binaries already in .build/release
#   deploy/cluster.sh status        every member's role, term, leader and indices (raftctl status)
#   deploy/cluster.sh logs [ID]     the last lines of each member's log (or one member's)
#   deploy/cluster.sh down          stop exactly the members this script started (SIGTERM, then
#                                   SIGKILL after 10 s)
#
# Data, logs and pid files live under ./.cluster/ (node<ID>/). Ports: member i listens for peers
# on RAFT_PEER_PORT_BASE+i (default 7000+i), for clients on RAFT_CLIENT_PORT_BASE+i (default
# 7100+i) and serves /metrics and /healthz on RAFT_METRICS_PORT_BASE+i (default 7200+i). RAFT_HEARTBEAT_MS, RAFT_ELECTION_TIMEOUT_MS, RAFT_SNAPSHOT_ENTRIES and RAFT_LOG_LEVEL
# pass through to raft-node.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.cluster"
peer_base=${RAFT_PEER_PORT_BASE:-7000}
client_base=${RAFT_CLIENT_PORT_BASE:-7100}
metrics_base=${RAFT_METRICS_PORT_BASE:-7200}

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

command=${1:-}
[ -n "$command" ] || usage
shift
members=3
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || usage; members=$2; shift 2 ;;
    -n*) members=${1#-n}; shift ;;
    --no-build) build=0; shift ;;
    *) break ;;
  esac
done

# The size the running cluster was started with wins over -n for everything but `up`.
[ -f "$state/members" ] && [ "$command" != up ] && members=$(cat "$state/members")
case "$members" in 3|5) ;; *) die "-n must be 3 or 5 (got $members)" ;; esac

bin="$root/.build/release"
endpoints() { local e=(); for i in $(seq 1 "$members"); do e+=("127.0.0.1:$((client_base + i))"); done; (IFS=,; echo "${e[*]}"); }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && grep -q raft-node "/proc/$(cat "$1")/cmdline" 2>/dev/null; }

install_packages() {
  local missing=()
  for p in libprotobuf-c-dev zlib1g-dev pkg-config; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cluster.sh: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
  command -v swift >/dev/null || die "swift not found"
}

up() {
  if [ -f "$state/members" ] && [ "$(cat "$state/members")" != "$members" ]; then
    for i in $(seq 1 "$(cat "$state/members")"); do
      alive "$state/node$i/pid" && die "a $(cat "$state/members")-member cluster is running; run 'down' first"
    done
  fi
  install_packages
  if [ $build -eq 1 ]; then
    echo "cluster.sh: building release (first time: a few minutes)"
    swift build -c release --product raft-node >"$state.build.log" 2>&1 || { tail -20 "$state.build.log"; die "build failed"; }
    swift build -c release --product raftctl >>"$state.build.log" 2>&1 || { tail -20 "$state.build.log"; die "build failed"; }
    mkdir -p "$state"
    mv "$state.build.log" "$state/build.log"
  else
    [ -x "$bin/raft-node" ] && [ -x "$bin/raftctl" ] || die "--no-build: no raft-node/raftctl in $bin"
    mkdir -p "$state"
  fi
  echo "$members" >"$state/members"
  local cluster=() clients=()
  for i in $(seq 1 "$members"); do
    cluster+=("$i=127.0.0.1:$((peer_base + i))")
    clients+=("$i=127.0.0.1:$((client_base + i))")
  done
  for i in $(seq 1 "$members"); do
    local dir="$state/node$i"
    mkdir -p "$dir"
    if alive "$dir/pid"; then
      echo "cluster.sh: member $i already running (pid $(cat "$dir/pid"))"
      continue
    fi
    nohup "$bin/raft-node" --id "$i" --cluster "$(IFS=,; echo "${cluster[*]}")" \
      --client-addresses "$(IFS=,; echo "${clients[*]}")" --client-listen "127.0.0.1:$((client_base + i))" \
      --metrics-listen "127.0.0.1:$((metrics_base + i))" \
      --data-dir "$dir/data" >>"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
  done
  echo "cluster.sh: waiting for a leader"
  local i
  for i in $(seq 1 100); do
    if "$bin/raftctl" --endpoints "$(endpoints)" --timeout 2 status 2>/dev/null | grep -q " leader "; then
      "$bin/raftctl" --endpoints "$(endpoints)" status || true
      echo
      echo "clients:  $(endpoints)"
      echo "metrics:  $(for j in $(seq 1 "$members"); do printf 'http://127.0.0.1:%d/metrics ' $((metrics_base + j)); done)"
      echo "try:      $bin/raftctl --endpoints $(endpoints) put hello world"
      return 0
    fi
    for j in $(seq 1 "$members"); do
      alive "$state/node$j/pid" || { tail -5 "$state/node$j/log" >&2; die "member $j exited"; }
    done
    sleep 0.3
  done
  die "no leader after 30 s; see deploy/cluster.sh logs"
}

down() {
  local stopped=0
  for i in $(seq 1 "$members"); do
    local pidfile="$state/node$i/pid"
    [ -f "$pidfile" ] || continue
    if alive "$pidfile"; then
      kill -TERM "$(cat "$pidfile")"
      stopped=$((stopped + 1))
    fi
  done
  for _ in $(seq 1 100); do
    local running=0
    for i in $(seq 1 "$members"); do alive "$state/node$i/pid" && running=1; done
    [ $running -eq 0 ] && break
    sleep 0.1
  done
  for i in $(seq 1 "$members"); do
    local pidfile="$state/node$i/pid"
    if alive "$pidfile"; then
      echo "cluster.sh: member $i ignored SIGTERM; killing it" >&2
      kill -KILL "$(cat "$pidfile")"
    fi
    rm -f "$pidfile"
  done
  rm -f "$state/members"
  echo "cluster.sh: stopped $stopped member(s); data kept in $state"
}

case "$command" in
  up) up ;;
  down) down ;;
  status)
    [ -x "$bin/raftctl" ] || die "not built yet; run 'up' first"
    "$bin/raftctl" --endpoints "$(endpoints)" --timeout 3 status ;;
  logs)
    if [ $# -gt 0 ]; then tail -n 50 "$state/node$1/log"; else
      for i in $(seq 1 "$members"); do echo "== member $i"; tail -n 20 "$state/node$i/log" 2>/dev/null || true; done
    fi ;;
  *) usage ;;
esac
