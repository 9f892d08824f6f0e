#!/usr/bin/env bash
# Measures failover on the local cluster of deploy/cluster.sh: kill -9 the leader, time until the
# next write commits (a raftctl put that retries across members), restart the killed member, let
# it catch up, repeat.
#
#   deploy/failover.sh [KILLS]      default 10; the cluster must be up (deploy/cluster.sh up)
#
# Prints each time, then the median and worst, and the time of a put on a healthy cluster (the
# raftctl process start included in every figure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
kills=${1:-10}
case "$kills" in ''|*[!0-9]*) echo "failover.sh: KILLS must be a whole number" >&2; exit 64;; esac
state="$root/.cluster"
[ -f "$state/members" ] || { echo "failover.sh: no cluster; run deploy/cluster.sh up" >&2; exit 1; }
ids=$(case "$(cat "$state/members")" in ids:*) echo "$(cat "$state/members" | cut -d: -f2)" ;; *) seq 1 "$(cat "$state/members")" ;; esac)
client_base=${RAFT_CLIENT_PORT_BASE:-7100}
ctl="$root/.build/release/raftctl"
endpoints=$(for i in $ids; do printf '127.0.0.1:%d,' $((client_base + i)); done)
endpoints=${endpoints%,}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

leader() { "$ctl" --endpoints "$endpoints" --timeout 3 status 2>/dev/null | awk '$3 == "leader" { print $2; exit }'; }

t0=$(ms); "$ctl" --endpoints "$endpoints" put failover-baseline 1 >/dev/null; baseline=$(( $(ms) - t0 ))
times=()
for k in $(seq 1 "$kills"); do
  id=""
  for _ in $(seq 1 100); do id=$(leader); [ -n "$id" ] && break; sleep 0.1; done
  [ -n "$id" ] || { echo "failover.sh: no leader" >&2; exit 1; }
  kill -9 "$(cat "$state/node$id/pid")"
  t0=$(ms)
  "$ctl" --endpoints "$endpoints" --timeout 30 put "failover-$k" "$k" >/dev/null
  took=$(( $(ms) - t0 ))
  times+=("$took")
  echo "kill $k: leader $id, next write committed after ${took} ms"
  deploy/cluster.sh up --no-build >/dev/null
  # Let the restarted member catch up before the next kill.
  for _ in $(seq 1 100); do
    "$ctl" --endpoints "127.0.0.1:$((client_base + id))" get --serializable "failover-$k" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }')
worst=$(echo "$sorted" | tail -1)
echo "failover over $kills kills: median ${median} ms, worst ${worst} ms (a put on a healthy cluster: ${baseline} ms)"
