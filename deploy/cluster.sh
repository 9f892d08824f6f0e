#!/usr/bin/env bash
# Runs a local swift-raft cluster on loopback, and changes its membership.
#
#   deploy/cluster.sh up [-n 3|5] [--no-build] [--tls]
#                                   install what is missing, build release, start the members,
#                                   wait for a leader, print the addresses (harmless if running;
#                                   after 'down' it restarts the same members on their data);
#                                   --no-build runs the binaries already in .build/release;
#                                   --tls: transport security on every port (below)
#   deploy/cluster.sh status        every member's role, term, leader and indices (raftctl status)
#   deploy/cluster.sh members       the replicated configuration (raftctl member list)
#   deploy/cluster.sh add [--learner]
#                                   start a new member (next unused id) with --join, add it as a
#                                   learner, wait until it has caught up, promote it (--learner:
#                                   stop after adding it as a learner; 'promote ID' later)
#   deploy/cluster.sh promote ID    promote learner ID once it has caught up
#   deploy/cluster.sh remove ID     remove member ID (the leader hands over first if it is ID);
#                                   the member stops by itself, its data is deleted
#   deploy/cluster.sh replace ID    a new member takes ID's place: start it, add it as a learner,
#                                   then in one joint change promote it and remove ID (the way
#                                   back for a member whose disk was lost or wiped)
#   deploy/cluster.sh restart [--no-build]
#                                   rolling restart (after building, e.g. for an upgrade): one
#                                   member at a time, the leader last; each is stopped with
#                                   SIGTERM (the leader hands leadership over first) and the next
#                                   waits until it is back and has applied what was committed
#   deploy/cluster.sh logs [ID]     the last lines of each member's log (or one member's)
#   deploy/cluster.sh down          stop exactly the members this script started (SIGTERM, then
#                                   SIGKILL after 10 s)
#
# Data, logs and pid files live under ./.cluster/ (node<ID>/); .cluster/members lists the ids of
# the current members, .cluster/next-id the next id to use (ids are never reused). Ports: member
# i listens for peers on RAFT_PEER_PORT_BASE+i (default 7000+i), for clients on
# RAFT_CLIENT_PORT_BASE+i (default 7100+i) and serves /metrics and /healthz on
# RAFT_METRICS_PORT_BASE+i (default 7200+i), so ids stay below 100. RAFT_HEARTBEAT_MS,
# RAFT_ELECTION_TIMEOUT_MS, RAFT_SNAPSHOT_ENTRIES and RAFT_LOG_LEVEL pass through to raft-node.
#
# TLS ('up --tls'): certificates come from .cluster/certs, made with deploy/certs.sh when missing
# (hosts 127.0.0.1,localhost): ca.pem, member-<id>.pem + member-<id>-key.pem, client.pem +
# client-key.pem. Every member runs mutual TLS on its peer port with its member-<id>
# certificate, serves its client port with the same certificate and requires client
# certificates signed by ca.pem, and serves its metrics page over HTTPS. The file .cluster/tls
# records that the cluster speaks TLS, so every later subcommand (up without --tls included)
# uses it: raftctl gets --cacert/--cert/--key, members added later get a certificate of their
# own, the metrics page is checked over https. 'up --tls' also switches a plaintext cluster to
# TLS once it is down; 'down', then rm .cluster/tls, switches back. A renewed certificate file
# (deploy/certs.sh member ID --dir .cluster/certs) is picked up within 10 s (or at once:
# kill -HUP <pid in .cluster/node<ID>/pid>).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.cluster"
peer_base=${RAFT_PEER_PORT_BASE:-7000}
client_base=${RAFT_CLIENT_PORT_BASE:-7100}
metrics_base=${RAFT_METRICS_PORT_BASE:-7200}
bin="$root/.build/release"
certs="$state/certs"
# The names and addresses in the members' certificates: what raftctl, the members and curl dial.
tls_hosts=127.0.0.1,localhost
# Whether to speak TLS is this cluster's setting (.cluster/tls), not the caller's environment:
# RAFTCTL_* exported for another cluster (as 'up --tls' suggests) would otherwise make raftctl
# speak TLS to a plaintext cluster, or use the wrong certificates.
unset RAFTCTL_CACERT RAFTCTL_CERT RAFTCTL_KEY

die() { echo "cluster.sh: $*" >&2; exit 1; }
# The header comment above, up to the first line of code.
usage() { sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 64; }

command=${1:-}
[ -n "$command" ] || usage
shift
size=3
size_given=0
build=1
tls_given=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || usage; size=$2; size_given=1; shift 2 ;;
    -n*) size=${1#-n}; size_given=1; shift ;;
    --no-build) build=0; shift ;;
    --tls) tls_given=1; shift ;;
    *) break ;;
  esac
done
# The other subcommands follow what the cluster was started with (.cluster/tls).
[ $tls_given -eq 0 ] || [ "$command" = up ] || die "--tls goes with 'up' only; the other subcommands follow $state/tls"

# The current members, one id per line: .cluster/members holds "ids: 1 2 3 ..." (an older
# version of this script wrote just their number).
members() {
  [ -f "$state/members" ] || return 0
  local content; content=$(cat "$state/members")
  case "$content" in
    ids:*) for id in ${content#ids:}; do echo "$id"; done ;;
    *) seq 1 "$content" ;;
  esac
}
set_members() { echo "ids: $*" >"$state/members"; }
endpoint() { echo "127.0.0.1:$((client_base + $1))"; }
endpoints() { local e=(); for i in $(members); do e+=("$(endpoint "$i")"); done; (IFS=,; echo "${e[*]}"); }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && grep -q raft-node "/proc/$(cat "$1")/cmdline" 2>/dev/null; }
tls_on() { [ -f "$state/tls" ]; }
# rctl ARGS...: raftctl, with the client certificate when the cluster speaks TLS.
rctl() {
  if tls_on; then
    "$bin/raftctl" --cacert "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client-key.pem" "$@"
  else
    "$bin/raftctl" "$@"
  fi
}
ctl() { rctl --endpoints "$(endpoints)" "$@"; }
# metrics_url ID PATH: member ID's metrics page (https when the cluster speaks TLS).
metrics_url() { echo "$(tls_on && echo https || echo http)://127.0.0.1:$((metrics_base + $1))$2"; }
# fetch URL: curl, trusting the cluster's CA when it speaks TLS (no client certificate needed).
fetch() {
  if tls_on; then curl -sS --fail --max-time 2 --cacert "$certs/ca.pem" "$1"
  else curl -sS --fail --max-time 2 "$1"; fi
}

install_packages() {
  local missing=() wanted=(libprotobuf-c-dev zlib1g-dev pkg-config curl)
  if [ $tls_given -eq 1 ] || tls_on; then wanted+=(openssl); fi
  for p in "${wanted[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cluster.sh: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
  command -v swift >/dev/null || die "swift not found"
}

build_binaries() {
  install_packages
  mkdir -p "$state"
  if [ $build -eq 1 ]; then
    echo "cluster.sh: building release (first time: a few minutes)"
    swift build -c release --product raft-node >"$state/build.log" 2>&1 || { tail -20 "$state/build.log"; die "build failed"; }
    swift build -c release --product raftctl >>"$state/build.log" 2>&1 || { tail -20 "$state/build.log"; die "build failed"; }
  else
    [ -x "$bin/raft-node" ] && [ -x "$bin/raftctl" ] || die "--no-build: no raft-node/raftctl in $bin"
  fi
}

# certs_sh ARGS...: deploy/certs.sh on .cluster/certs; its report goes to stderr, since
# new_member's stdout is the new id.
certs_sh() {
  "$root/deploy/certs.sh" "$@" --dir "$certs" >&2 || die "deploy/certs.sh $* --dir $certs failed"
}

# enable_tls IDS...: records that the cluster speaks TLS and makes the CA (with certificates for
# IDS) and the client certificate when missing. Certificates already there are kept.
enable_tls() {
  mkdir -p "$certs"
  if [ ! -f "$certs/ca.pem" ]; then
    certs_sh --members "$(IFS=,; echo "$*")" --hosts "$tls_hosts"
  fi
  if [ ! -f "$certs/client.pem" ] || [ ! -f "$certs/client-key.pem" ]; then
    certs_sh client client --out client
  fi
  echo "TLS on every port; certificates in $certs (deploy/cluster.sh)" >"$state/tls"
}

# member_cert ID: member ID's certificate, made when missing (a member added or replacing
# another); says so when it has expired, since the other members will refuse it.
member_cert() {
  local id=$1
  if [ ! -f "$certs/member-$id.pem" ] || [ ! -f "$certs/member-$id-key.pem" ]; then
    certs_sh member "$id" --hosts "$tls_hosts"
  fi
  openssl x509 -checkend 0 -noout -in "$certs/member-$id.pem" >/dev/null 2>&1 \
    || echo "cluster.sh: $certs/member-$id.pem has expired or is unreadable; the others will refuse member $id" \
         "(renew: deploy/certs.sh member $id --dir $certs)" >&2
}

# tls_flags ID: member ID's TLS flags, one per line; none on a plaintext cluster. Not part of
# node<ID>/args, so that a cluster switched to TLS restarts its members with them.
tls_flags() {
  tls_on || return 0
  local cert="$certs/member-$1.pem" key="$certs/member-$1-key.pem" ca="$certs/ca.pem"
  printf '%s\n' --peer-cert-file "$cert" --peer-key-file "$key" --peer-trusted-ca-file "$ca" \
    --cert-file "$cert" --key-file "$key" --trusted-ca-file "$ca" \
    --metrics-cert-file "$cert" --metrics-key-file "$key"
}

# start ID ARGS...: runs member ID with the given membership flags (recorded for restarts).
start() {
  local id=$1; shift
  local dir="$state/node$id" tls=()
  mkdir -p "$dir"
  printf '%s\n' "$@" >"$dir/args"
  if alive "$dir/pid"; then
    echo "cluster.sh: member $id already running (pid $(cat "$dir/pid"))"
    return 0
  fi
  if tls_on; then
    member_cert "$id"
    mapfile -t tls < <(tls_flags "$id")
  fi
  nohup "$bin/raft-node" --id "$id" "$@" --client-listen "$(endpoint "$id")" \
    --metrics-listen "127.0.0.1:$((metrics_base + id))" --data-dir "$dir/data" "${tls[@]}" >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
}

# relaunch ID: runs member ID again with the flags it was first started with.
relaunch() {
  local id=$1 args=()
  mapfile -t args <"$state/node$id/args"
  start "$id" "${args[@]}"
}

wait_for_leader() {
  echo "cluster.sh: waiting for a leader"
  for _ in $(seq 1 100); do
    if ctl --timeout 2 status 2>/dev/null | grep -q " leader "; then return 0; fi
    for j in $(members); do
      alive "$state/node$j/pid" || { tail -5 "$state/node$j/log" >&2; die "member $j exited"; }
    done
    sleep 0.3
  done
  die "no leader after 30 s; see deploy/cluster.sh logs"
}

# wait_for_metrics: every member's metrics page answers GET /healthz with 200 (it knows the
# leader), over https with the cluster's CA on a TLS cluster: checks that Prometheus can scrape.
wait_for_metrics() {
  local id out attempt
  for id in $(members); do
    for attempt in $(seq 1 50); do
      if out=$(fetch "$(metrics_url "$id" /healthz)" 2>&1); then break; fi
      [ "$attempt" -lt 50 ] || die "member $id: $(metrics_url "$id" /healthz) did not answer 200 within about 10 s: $out"
      sleep 0.2
    done
  done
}

up() {
  if [ -n "$(members)" ] && [ $size_given -eq 1 ] && [ "$(members | wc -l)" -ne "$size" ]; then
    die "a cluster of $(members | wc -l) members exists in $state; 'up' restarts it (rm -rf $state to start a new one)"
  fi
  if [ -n "$(members)" ] && [ $tls_given -eq 1 ] && ! tls_on; then
    # Members of one cluster all speak TLS or none does: switch only while all are stopped.
    for i in $(members); do
      alive "$state/node$i/pid" && die "the cluster in $state runs without TLS; 'down' first, then 'up --tls' restarts it with TLS"
    done
    echo "cluster.sh: switching the cluster in $state to TLS"
  fi
  if [ -n "$(members)" ] && [ $tls_given -eq 0 ] && tls_on; then
    echo "cluster.sh: the cluster in $state speaks TLS ($state/tls); starting it with TLS"
  fi
  build_binaries
  if [ -z "$(members)" ]; then
    case "$size" in 3|5) ;; *) die "-n must be 3 or 5 (got $size)" ;; esac
    local cluster=() clients=() ids=()
    for i in $(seq 1 "$size"); do
      cluster+=("$i=127.0.0.1:$((peer_base + i))")
      clients+=("$i=$(endpoint "$i")")
      ids+=("$i")
    done
    if [ $tls_given -eq 1 ] || tls_on; then enable_tls "${ids[@]}"; fi
    set_members "${ids[@]}"
    echo $((size + 1)) >"$state/next-id"
    for i in "${ids[@]}"; do
      start "$i" --cluster "$(IFS=,; echo "${cluster[*]}")" --client-addresses "$(IFS=,; echo "${clients[*]}")"
    done
  else
    [ $tls_given -eq 0 ] || tls_on || enable_tls $(members)
    for i in $(members); do relaunch "$i"; done
  fi
  wait_for_leader
  wait_for_metrics
  ctl status || true
  echo
  echo "clients:  $(endpoints)"
  echo "metrics:  $(for j in $(members); do printf '%s ' "$(metrics_url "$j" /metrics)"; done)"
  if tls_on; then
    local first; first=$(members | head -1)
    echo "TLS:      every port; clients need a certificate signed by $certs/ca.pem"
    echo "try:      $bin/raftctl --endpoints $(endpoints) --cacert $certs/ca.pem --cert $certs/client.pem --key $certs/client-key.pem put hello world"
    echo "   or:    export RAFTCTL_CACERT=$certs/ca.pem RAFTCTL_CERT=$certs/client.pem RAFTCTL_KEY=$certs/client-key.pem"
    echo "          $bin/raftctl --endpoints $(endpoints) get hello"
    echo "metrics:  curl --cacert $certs/ca.pem $(metrics_url "$first" /metrics)"
    echo "          (Prometheus: deploy/prometheus-tls.yml)"
  else
    echo "try:      $bin/raftctl --endpoints $(endpoints) put hello world"
  fi
}

# new_member: starts the next unused id with --join and adds it as a learner; prints the id.
new_member() {
  local id; id=$(cat "$state/next-id" 2>/dev/null || echo 1)
  [ "$id" -lt 100 ] || die "member ids reached 100: the ports of this script no longer fit"
  echo $((id + 1)) >"$state/next-id"
  start "$id" --join --cluster "$id=127.0.0.1:$((peer_base + id))" >&2
  ctl member add "$id" --peer "127.0.0.1:$((peer_base + id))" --client "$(endpoint "$id")" --learner >&2 \
    || { stop_member "$id"; die "could not add member $id"; }
  echo "$id"
}

# retry SECONDS COMMAND...: runs COMMAND until it succeeds (a learner that has not caught up is
# refused), at most SECONDS seconds; prints the last refusal on failure.
retry() {
  local seconds=$1; shift
  local deadline=$(( $(date +%s) + seconds )) out
  while true; do
    if out=$("$@" 2>&1); then echo "$out"; return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$out" >&2; return 1; }
    sleep 0.5
  done
}

stop_member() {
  local pidfile="$state/node$1/pid"
  if alive "$pidfile"; then
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pidfile" || break; sleep 0.1; done
    alive "$pidfile" && kill -KILL "$(cat "$pidfile")"
  fi
  rm -f "$pidfile"
}

# retire ID: the member left the configuration; it stops by itself once the cluster has
# committed that (else SIGTERM after 10 s); its data can never be used again.
retire() {
  local id=$1 pidfile="$state/node$1/pid"
  for _ in $(seq 1 100); do alive "$pidfile" || break; sleep 0.1; done
  stop_member "$id"
  rm -rf "$state/node$id/data"
  mv "$state/node$id/log" "$state/node$id/log.removed" 2>/dev/null || true
  # Its id is never used again; its key would only be a member certificate lying around.
  rm -f "$certs/member-$id.pem" "$certs/member-$id-key.pem"
  set_members $(members | grep -vx "$id")
}

add() {
  [ -x "$bin/raftctl" ] || die "not built yet; run 'up' first"
  local id; id=$(new_member)
  set_members $(members) "$id"
  if [ "${1:-}" = "--learner" ]; then
    echo "cluster.sh: member $id started and added as a learner"
    return 0
  fi
  echo "cluster.sh: member $id started and added as a learner; promoting it once caught up"
  promote "$id"
}

promote() {
  local id=${1:-}
  [ -n "$id" ] || usage
  retry "${RAFT_CATCH_UP_SECONDS:-120}" ctl member promote "$id" >/dev/null \
    || die "member $id did not catch up within ${RAFT_CATCH_UP_SECONDS:-120} s (it stays a learner)"
  echo "cluster.sh: member $id is a voter"
  ctl member list
}

# known ID: ID must be one of this script's members.
known() {
  [ -n "${1:-}" ] || usage
  members | grep -qx "$1" || die "member $1 is not one of this script's members ($(members | tr '\n' ' '))"
}

remove() {
  local id=${1:-}
  known "$id"
  ctl member remove "$id"
  retire "$id"
  ctl member list
}

replace() {
  local old=${1:-}
  known "$old"
  local id; id=$(new_member)
  echo "cluster.sh: member $id started and added as a learner; replacing $old once it has caught up"
  set_members $(members) "$id"
  retry "${RAFT_CATCH_UP_SECONDS:-120}" ctl member replace "$old" "$id" >/dev/null \
    || die "member $id did not catch up within ${RAFT_CATCH_UP_SECONDS:-120} s (it stays a learner)"
  retire "$old"
  echo "cluster.sh: member $id replaced member $old"
  ctl member list
}

# status_of ENDPOINT FIELD: one column (ID, ROLE, TERM, LEADER, COMMIT, APPLIED, ...) of what the
# member at ENDPOINT reports about itself; empty if it does not answer.
status_of() {
  rctl --endpoints "$1" --timeout 2 status 2>/dev/null \
    | awk -v f="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i } NR == 2 { print $col[f] }' || true
}

leader_id() {
  local id
  for id in $(members); do
    [ "$(status_of "$(endpoint "$id")" ROLE)" = leader ] && { echo "$id"; return 0; }
  done
  return 1
}

# caught_up ID: member ID answers, knows a leader, and has applied everything the leader had
# committed when it came back.
caught_up() {
  local id=$1 seconds=${RAFT_CATCH_UP_SECONDS:-120} target="" leader
  local deadline=$(( $(date +%s) + seconds ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    alive "$state/node$id/pid" || { tail -5 "$state/node$id/log" >&2; die "member $id exited after its restart"; }
    leader=$(status_of "$(endpoint "$id")" LEADER)
    if [ -n "$leader" ] && [ "$leader" != 0 ] && members | grep -qx "$leader"; then
      [ -n "$target" ] || target=$(status_of "$(endpoint "$leader")" COMMIT)
      local applied; applied=$(status_of "$(endpoint "$id")" APPLIED)
      if [ -n "$target" ] && [ -n "$applied" ] && [ "$applied" -ge "$target" ]; then return 0; fi
    fi
    sleep 0.2
  done
  die "member $id did not catch up within $seconds s after its restart; see deploy/cluster.sh logs $id"
}

# Rolling restart: followers first, then the leader, which hands leadership over on SIGTERM.
rolling_restart() {
  [ -n "$(members)" ] || die "no cluster in $state; run 'up' first"
  build_binaries
  local leader order=() id
  leader=$(leader_id) || die "no leader; a rolling restart needs a working cluster"
  for id in $(members); do [ "$id" = "$leader" ] || order+=("$id"); done
  order+=("$leader")
  for id in "${order[@]}"; do
    local started; started=$(date +%s%N)
    echo "cluster.sh: restarting member $id$([ "$id" = "$leader" ] && echo " (the leader)")"
    stop_member "$id"
    relaunch "$id"
    caught_up "$id"
    echo "cluster.sh: member $id is back and caught up ($(( ($(date +%s%N) - started) / 1000000 )) ms)"
  done
  ctl status || true
}

down() {
  local stopped=0
  for i in $(members); do
    local pidfile="$state/node$i/pid"
    if alive "$pidfile"; then
      kill -TERM "$(cat "$pidfile")"
      stopped=$((stopped + 1))
    fi
  done
  for _ in $(seq 1 100); do
    local running=0
    for i in $(members); do alive "$state/node$i/pid" && running=1; done
    [ $running -eq 0 ] && break
    sleep 0.1
  done
  for i in $(members); do
    local pidfile="$state/node$i/pid"
    if alive "$pidfile"; then
      echo "cluster.sh: member $i ignored SIGTERM; killing it" >&2
      kill -KILL "$(cat "$pidfile")"
    fi
    rm -f "$pidfile"
  done
  echo "cluster.sh: stopped $stopped member(s); data kept in $state ('up' restarts them, rm -rf $state starts afresh)"
}

case "$command" in
  up) up ;;
  down) down ;;
  restart) rolling_restart ;;
  add) add "$@" ;;
  promote) promote "$@" ;;
  remove) remove "$@" ;;
  replace) replace "$@" ;;
  status)
    [ -x "$bin/raftctl" ] || die "not built yet; run 'up' first"
    ctl --timeout 3 status ;;
  members)
    [ -x "$bin/raftctl" ] || die "not built yet; run 'up' first"
    ctl --timeout 3 member list ;;
  logs)
    if [ $# -gt 0 ]; then tail -n 50 "$state/node$1/log"; else
      for i in $(members); do echo "== member $i"; tail -n 20 "$state/node$i/log" 2>/dev/null || true; done
    fi ;;
  *) usage ;;
esac
