#!/usr/bin/env bash
# Checks the Prometheus artifacts in deploy/ with the real tools:
#
#   promtool check config deploy/prometheus.yml   (also loads the rule files it names)
#   promtool check config deploy/prometheus-tls.yml   (the same for `cluster.sh up --tls`)
#   promtool check rules  deploy/alerts.yml
#   promtool test rules   deploy/alerts_test.yml
#   every alert of alerts.yml has a firing and a non-firing case in alerts_test.yml
#
# Installs Debian's `prometheus` package (which ships promtool) when promtool is missing, and
# python3-yaml for the coverage check. Works from any directory; exits non-zero on any failure.
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)

die() { echo "check-rules.sh: $*" >&2; exit 1; }

need=()
command -v promtool >/dev/null || need+=(prometheus)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]} and not root; install: apt-get install ${need[*]}"
  echo "check-rules.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  command -v promtool >/dev/null || die "promtool still missing after installing prometheus"
fi
echo "check-rules.sh: $(promtool --version 2>&1 | head -1)"

failed=0
run() {
  echo "+ $*"
  if "$@"; then echo; else echo "check-rules.sh: FAILED: $*" >&2; echo; failed=1; fi
}

# promtool resolves rule_files relative to the file that names them, so any cwd works.
run promtool check config "$deploy/prometheus.yml"
run promtool check config "$deploy/prometheus-tls.yml"
run promtool check rules "$deploy/alerts.yml"
run promtool test rules "$deploy/alerts_test.yml"

echo "+ coverage: every alert in alerts.yml has a firing and a non-firing test"
if python3 - "$deploy/alerts.yml" "$deploy/alerts_test.yml" <<'EOF'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
firing, quiet = set(), set()
for t in tests.get("tests", []):
    for c in t.get("alert_rule_test", []) or []:
        (firing if c.get("exp_alerts") else quiet).add(c["alertname"])
bad = 0
for a in alerts:
    missing = [k for k, s in (("firing", firing), ("non-firing", quiet)) if a not in s]
    print(f"  {a:32} {'MISSING ' + ' and '.join(missing) + ' case' if missing else 'ok'}")
    bad += bool(missing)
unknown = (firing | quiet) - set(alerts)
for a in sorted(unknown):
    print(f"  {a:32} tested but not defined in alerts.yml")
print(f"  {len(alerts)} alerts, {len(alerts) - bad} fully covered")
sys.exit(1 if bad or unknown else 0)
EOF
then echo; else echo "check-rules.sh: FAILED: coverage" >&2; echo; failed=1; fi

if [ $failed -ne 0 ]; then
  echo "check-rules.sh: FAILED" >&2
  exit 1
fi
echo "check-rules.sh: all Prometheus checks passed"
