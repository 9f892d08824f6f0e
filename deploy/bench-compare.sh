#!/usr/bin/env bash
# Did a change make the member slower? Runs this tree's raft-node and the one of an older
# revision side by side on this machine, and compares them run by run.
#
#   deploy/bench-compare.sh REV [--rounds N] [--no-build]
#
# REV is any git revision (a commit, a tag, HEAD~3). It is checked out in a worktree under
# .cluster/compare/REV-TREE (kept for the next comparison) and built there (release raft-node
# and raftctl). Both run as 3-member plaintext clusters with fresh data: this tree on peers
# 7021-7023, clients 7121-7123, metrics 7221-7223; REV ten ports above. Then, for N rounds
# (default 4), write-c64 and read-c64 (the workloads of deploy/bench.sh, BENCH_SECONDS each,
# default 15) run against each cluster in turn, the order swapped every round, with this tree's
# raft-bench. The cluster not measured is idle.
#
# Per run it prints ops/s and the members' CPU time per operation (user + system time of the
# three members, from /proc, over the run): on a shared machine the CPU per operation moves far
# less from run to run than the throughput does. Then the means, and this/REV ratios (above
# 1.00x: more ops/s, or more CPU per op). Exits 1 if a run measured nothing. Logs and results in
# .cluster/compare/. Refuses to run when one of the ports is taken.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/.cluster/compare"
bin="$root/.build/release"
# shellcheck source=deploy/bench-lib.sh
source "$root/deploy/bench-lib.sh"
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

rev=""
rounds=4
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:-}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-compare.sh: unknown argument $1" >&2; exit 64 ;;
    *) [ -z "$rev" ] || { echo "bench-compare.sh: one revision only" >&2; exit 64; }; rev=$1; shift ;;
  esac
done
[ -n "$rev" ] || { echo "usage: deploy/bench-compare.sh REV [--rounds N] [--no-build]" >&2; exit 64; }
seconds=${BENCH_SECONDS:-15}
for n in "$rounds" "$seconds"; do
  case "$n" in ''|*[!0-9]*|0) echo "bench-compare.sh: --rounds and BENCH_SECONDS must be positive whole numbers" >&2; exit 64 ;; esac
done
commit=$(git rev-parse --verify --quiet "$rev^{commit}") || { echo "bench-compare.sh: no such revision: $rev" >&2; exit 64; }
short=$(git rev-parse --short "$commit")

command -v ss >/dev/null || die "ss (iproute2) is needed"
port_taken() { ss -ltn 2>/dev/null | awk '{ print $4 }' | grep -q ":$1\$"; }
ours_peer=7020 ours_client=7120 ours_metrics=7220
base_peer=7030 base_client=7130 base_metrics=7230
for b in $ours_peer $ours_client $ours_metrics $base_peer $base_client $base_metrics; do
  for i in 1 2 3; do port_taken $((b + i)) && die "port $((b + i)) is in use (another cluster or benchmark?)"; done
done
endpoints() { echo "127.0.0.1:$(($1 + 1)),127.0.0.1:$(($1 + 2)),127.0.0.1:$(($1 + 3))"; }
ours_endpoints=$(endpoints $ours_client)
base_endpoints=$(endpoints $base_client)

mkdir -p "$out"
tree="$out/$short-tree"
ours_dir="$out/ours" base_dir="$out/$short"
started=()
bench_pid=""
cleanup() {
  local rc=$? dir
  set +e
  [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null
  for dir in "${started[@]}"; do stop_raft_members "$dir"; done
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the two builds
if [ $build -eq 1 ]; then
  build_release --product raft-node
  swift build -c release --product raftctl >>"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
  swift build -c release --product raft-bench >>"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
fi
for tool in raft-node raftctl raft-bench; do [ -x "$bin/$tool" ] || die "no $bin/$tool (run without --no-build)"; done
# A worktree removed with .cluster/ leaves its registration behind; prune it before adding.
git worktree prune
if [ ! -d "$tree" ]; then
  log "checking out $rev ($short) in $tree"
  git worktree add --detach --quiet "$tree" "$commit"
fi
if [ $build -eq 1 ] || [ ! -x "$tree/.build/release/raft-node" ]; then
  log "building $short (release raft-node, raftctl; the first build of a revision takes minutes)"
  (cd "$tree" && swift build -c release --product raft-node && swift build -c release --product raftctl) \
    >"$out/build-$short.log" 2>&1 || { tail -20 "$out/build-$short.log"; die "the build of $short failed"; }
fi

# ---------------------------------------------------------------- both clusters
start_raft_members "$ours_dir" $ours_peer $ours_client $ours_metrics
started+=("$ours_dir")
(bin="$tree/.build/release"; start_raft_members "$base_dir" $base_peer $base_client $base_metrics)
started+=("$base_dir")
wait_raft_leader "$ours_dir" "$ours_endpoints"
wait_raft_leader "$base_dir" "$base_endpoints"

# CPU time (clock ticks) of the given pids, summed.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
ticks_per_second=$(getconf CLK_TCK)
results="$out/results"
: >"$results"

# measure NAME DIR ENDPOINTS LABEL RAFT-BENCH-ARGS...: one run; appends
# "NAME LABEL OPS_PER_S CPU_US_PER_OP" to $results.
measure() {
  local name=$1 dir=$2 endpoints=$3 label=$4; shift 4
  local pids before after line ops rate
  read -r -a pids <<<"$(raft_member_pids "$dir")"
  before=$(cpu_ticks "${pids[@]}")
  "$bin/raft-bench" --target swift-raft --endpoints "$endpoints" --duration "$seconds" --warmup 0 \
    --value-size 256 --keys 1000 "$@" >"$out/$name-$label.out" 2>"$out/$name-$label.err" &
  bench_pid=$!
  wait "$bench_pid" || log "$name $label: raft-bench exited $? (see $out/$name-$label.err)"
  bench_pid=""
  after=$(cpu_ticks "${pids[@]}")
  line=$(grep '^RESULT ' "$out/$name-$label.out" || true)
  ops=$(sed -nE 's/.* ops=([0-9]+) .*/\1/p' <<<"$line")
  rate=$(sed -nE 's/.* ops_per_s=([0-9]+) .*/\1/p' <<<"$line")
  [ -n "$ops" ] && [ "$ops" -gt 0 ] || { echo "$name $label 0 -" >>"$results"; log "$name $label: measured nothing"; return 0; }
  awk -v n="$name" -v l="$label" -v r="$rate" -v o="$ops" -v t=$((after - before)) -v hz="$ticks_per_second" \
    'BEGIN { printf "%s %s %d %.2f\n", n, l, r, t * 1e6 / hz / o }' >>"$results"
}

log "$rounds rounds of write-c64 and read-c64, ${seconds}s each, against this tree and $short in turn"
for round in $(seq 1 "$rounds"); do
  order="ours base"
  [ $((round % 2)) -eq 0 ] && order="base ours"
  for which in $order; do
    if [ "$which" = ours ]; then name=ours dir=$ours_dir eps=$ours_endpoints
    else name=$short dir=$base_dir eps=$base_endpoints; fi
    measure "$name" "$dir" "$eps" write-c64 --clients 64
    measure "$name" "$dir" "$eps" read-c64 --clients 64 --read-ratio 1
    tail -2 "$results" | sed "s/^/bench-compare.sh: round $round: /" >&2
  done
done

# ---------------------------------------------------------------- the table
echo
named=$short
[ "$rev" != "$short" ] && named="$short ($rev)"
echo "## this tree vs $named — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; $rounds rounds of ${seconds}s, order swapped every round"
echo
awk -v base="$short" '
  { key = $2; who = ($1 == "ours") ? "ours" : "base"; n[key, who]++; i = n[key, who]
    rate[key, who, i] = $3; cpu[key, who, i] = $4; if ($3 == 0) failed = 1 }
  END {
    split("write-c64 read-c64", labels, " ")
    w = length(base)
    printf "| workload  | round | this ops/s | %*s | this µs CPU/op | %*s |\n", w + 6, base " ops/s", w + 10, base " µs CPU/op"
    printf "|-----------|-------|------------|-%s-|----------------|-%s-|\n", dashes(w + 6), dashes(w + 10)
    for (k = 1; k <= 2; k++) {
      key = labels[k]
      for (i = 1; i <= n[key, "ours"]; i++)
        printf "| %-9s | %5d | %10d | %*d | %14s | %*s |\n", key, i, rate[key, "ours", i], w + 6, rate[key, "base", i], cpu[key, "ours", i], w + 10, cpu[key, "base", i]
    }
    print ""
    printf "| workload  | this/%s ops/s (means) | this/%s CPU per op (means) |\n", base, base
    printf "|-----------|-%s-|-%s-|\n", dashes(w + 19), dashes(w + 24)
    for (k = 1; k <= 2; k++) {
      key = labels[k]; ro = rb = co = cb = 0
      for (i = 1; i <= n[key, "ours"]; i++) { ro += rate[key, "ours", i]; co += cpu[key, "ours", i] }
      for (i = 1; i <= n[key, "base"]; i++) { rb += rate[key, "base", i]; cb += cpu[key, "base", i] }
      printf "| %-9s | %*s | %*s |\n", key, w + 19, (rb > 0 ? sprintf("%.3fx", ro / rb) : "-"), w + 24, (cb > 0 ? sprintf("%.3fx", co / cb) : "-")
    }
    exit failed
  }
  function dashes(k,   d) { d = ""; while (k-- > 0) d = d "-"; return d }' "$results" || die "a run measured nothing (logs in $out)"
echo
echo "raw: $results"
