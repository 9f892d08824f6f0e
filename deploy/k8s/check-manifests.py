#!/usr/bin/env python3
"""Offline checks of the manifests in deploy/k8s (no cluster, kubectl or kubeconform needed).

YAML syntax, then the cross-references a typo would break silently: selectors vs. pod labels,
the StatefulSet's serviceName vs. the headless Service, named ports used by Services and probes,
volumes and the entrypoint ConfigMap, $(VAR) references, RAFT_CLUSTER vs. replicas and the
stable DNS names, TLS (the Secret volume, the CA variables, HTTPS probes and scrape annotation),
and the kustomization's file list. Then runs the entrypoint with sh for a few pods (raft-node
replaced by a stub that prints its environment) and checks the member id, --join and the TLS
files each member is given. Exit status 1 on any problem.

    python3 deploy/k8s/check-manifests.py
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

here = os.path.dirname(os.path.abspath(__file__))
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


kustomization = yaml.safe_load(open(os.path.join(here, "kustomization.yaml")))
files = sorted(f for f in os.listdir(here) if f.endswith(".yaml") and f != "kustomization.yaml")
check(sorted(kustomization["resources"]) == files, f"kustomization resources {kustomization['resources']} != {files}")

objects = {}
for name in files:
    for doc in yaml.safe_load_all(open(os.path.join(here, name))):
        if doc is None:
            continue
        for key in ("apiVersion", "kind", "metadata"):
            check(key in doc, f"{name}: object without {key}")
        objects[(doc["kind"], doc["metadata"]["name"])] = doc
        print(f"  parsed {name}: {doc['apiVersion']} {doc['kind']}/{doc['metadata']['name']}")

expected_api = {"StatefulSet": "apps/v1", "Service": "v1", "ConfigMap": "v1", "PodDisruptionBudget": "policy/v1"}
for (kind, name), doc in objects.items():
    check(expected_api.get(kind) == doc["apiVersion"], f"{kind}/{name}: apiVersion {doc['apiVersion']}")

sts = [d for (k, _), d in objects.items() if k == "StatefulSet"]
check(len(sts) == 1, "exactly one StatefulSet expected")
sts = sts[0]
spec = sts["spec"]
pod = spec["template"]["spec"]
pod_labels = spec["template"]["metadata"]["labels"]
matches = lambda selector: all(pod_labels.get(k) == v for k, v in selector.items())

check(matches(spec["selector"]["matchLabels"]), "StatefulSet selector does not match its pod labels")
check(spec.get("podManagementPolicy") == "Parallel", "podManagementPolicy must be Parallel (OrderedReady deadlocks)")
headless = objects.get(("Service", spec["serviceName"]))
check(headless is not None, f"no Service named serviceName {spec['serviceName']}")
if headless:
    check(headless["spec"].get("clusterIP") == "None", "peer Service is not headless")
    check(headless["spec"].get("publishNotReadyAddresses") is True, "peer Service needs publishNotReadyAddresses")

(container,) = pod["containers"]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
check(set(ports) == {"peer", "client", "metrics"}, f"container ports {ports}")
for (kind, name), doc in objects.items():
    if kind == "Service":
        check(matches(doc["spec"]["selector"]), f"Service/{name} selector does not match the pods")
        for p in doc["spec"]["ports"]:
            check(p["targetPort"] in ports, f"Service/{name} targetPort {p['targetPort']} is not a container port")
            check(ports.get(p["targetPort"]) == p["port"], f"Service/{name} port {p['port']} != container port")
    if kind == "PodDisruptionBudget":
        check(matches(doc["spec"]["selector"]["matchLabels"]), f"PDB/{name} selector does not match the pods")
        check(doc["spec"].get("minAvailable") == spec["replicas"] // 2 + 1, "PDB minAvailable is not a majority")

for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    check(probe in container, f"missing {probe}")
    get = container.get(probe, {}).get("httpGet", {})
    check(get.get("port") in ports, f"{probe} port {get.get('port')} is not a container port")
check(container["readinessProbe"]["httpGet"]["path"] == "/healthz", "readiness must be GET /healthz")
check(container["livenessProbe"]["httpGet"]["path"] != "/healthz", "liveness must not be /healthz (no leader != dead)")

annotations = spec["template"]["metadata"].get("annotations", {})
check(annotations.get("prometheus.io/scrape") == "true", "missing prometheus.io/scrape")
check(int(annotations.get("prometheus.io/port", 0)) == ports["metrics"], "prometheus.io/port != metrics port")

anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
check(any(t["topologyKey"] == "kubernetes.io/hostname" and matches(t["labelSelector"]["matchLabels"]) for t in anti),
      "no required pod anti-affinity across hosts")
check(pod.get("enableServiceLinks") is False, "enableServiceLinks must be false (Service 'raft' injects RAFT_* variables)")

volumes = {v["name"]: v for v in pod.get("volumes", [])}
claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
for m in container["volumeMounts"]:
    check(m["name"] in volumes or m["name"] in claims, f"volumeMount {m['name']} has no volume")
for v in volumes.values():
    if "configMap" in v:
        cm = objects.get(("ConfigMap", v["configMap"]["name"]))
        check(cm is not None, f"ConfigMap {v['configMap']['name']} not defined")
        if cm:
            script = container["command"][-1]
            mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == v["name"])
            check(os.path.dirname(script) == mount and os.path.basename(script) in cm["data"],
                  f"command {script} is not a key of ConfigMap {cm['metadata']['name']} mounted at {mount}")

env = {}
for e in container["env"]:
    for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", "")):
        check(ref in env, f"env {e['name']} refers to $({ref}) before it is defined")
    env[e["name"]] = e.get("value")
data_mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] in claims)
check(env["RAFT_DATA_DIR"].startswith(data_mount + "/"), "RAFT_DATA_DIR is not on the data volume")
for var, port in (("RAFT_CLUSTER", "peer"), ("RAFT_CLIENT_ADDRESSES", "client")):
    # The first members: ids 1..n for the first n ordinals; replicas may be more (members
    # added later join), never fewer.
    members = dict(m.split("=", 1) for m in env[var].split(","))
    check(sorted(map(int, members)) == list(range(1, len(members) + 1)), f"{var} ids are not 1..n")
    check(spec["replicas"] >= len(members), f"replicas {spec['replicas']} < the {len(members)} members of {var}")
    for i, address in members.items():
        want = f"{sts['metadata']['name']}-{int(i) - 1}.{spec['serviceName']}.$(POD_NAMESPACE).svc:{ports[port]}"
        check(address == want, f"{var} member {i}: {address}, expected {want}")
check(env.get("RAFT_PEER_DOMAIN") == f"{spec['serviceName']}.$(POD_NAMESPACE).svc",
      f"RAFT_PEER_DOMAIN must be the peer Service's domain {spec['serviceName']}.$(POD_NAMESPACE).svc")
for var in ("RAFT_CLIENT_LISTEN", "RAFT_METRICS_LISTEN"):
    want = "client" if var == "RAFT_CLIENT_LISTEN" else "metrics"
    check(env[var] == f"0.0.0.0:{ports[want]}", f"{var} must listen on 0.0.0.0:{ports[want]}")

# TLS: the Secret is mounted whole at RAFT_TLS_DIR; the CA variables point into it; the per-member
# certificate variables are the entrypoint's (it knows the id); everything that reads the metrics
# page speaks HTTPS.
member_tls_vars = ("RAFT_PEER_CERT_FILE", "RAFT_PEER_KEY_FILE", "RAFT_CERT_FILE", "RAFT_KEY_FILE",
                   "RAFT_METRICS_CERT_FILE", "RAFT_METRICS_KEY_FILE")
tls_dir = env.get("RAFT_TLS_DIR")
probe_schemes = {probe: container.get(probe, {}).get("httpGet", {}).get("scheme", "HTTP")
                 for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
if tls_dir:
    mount = next((m for m in container["volumeMounts"] if m["mountPath"] == tls_dir), None)
    check(mount is not None, f"RAFT_TLS_DIR {tls_dir} is not the mountPath of a volumeMount")
    if mount:
        check("subPath" not in mount, "the TLS Secret must be mounted whole: subPath mounts never see its updates")
        check(mount.get("readOnly") is True, "the TLS Secret mount should be readOnly")
        secret = volumes.get(mount["name"], {}).get("secret")
        check(secret is not None, f"volume {mount['name']} at RAFT_TLS_DIR is not a Secret")
        if secret:
            check("items" not in secret, "no items in the TLS Secret volume: members added later need their member-<id> files")
            check(secret.get("defaultMode", 0o644) & 0o007 == 0, "TLS Secret files must not be readable by others (defaultMode)")
    for var, file in (("RAFT_PEER_TRUSTED_CA_FILE", "ca.pem"), ("RAFT_TRUSTED_CA_FILE", "ca.pem"),
                      ("RAFTCTL_CACERT", "ca.pem"), ("RAFTCTL_CERT", "client.pem"), ("RAFTCTL_KEY", "client-key.pem")):
        check(env.get(var) == f"$(RAFT_TLS_DIR)/{file}", f"{var} must be $(RAFT_TLS_DIR)/{file}")
    for var in member_tls_vars:
        check(var not in env, f"{var} is set by the entrypoint from the member id, not in the manifest")
    for probe, scheme in probe_schemes.items():
        check(scheme == "HTTPS", f"{probe} must use scheme HTTPS: the metrics page speaks TLS")
    check(annotations.get("prometheus.io/scheme") == "https", "prometheus.io/scheme must be https")
else:
    for probe, scheme in probe_schemes.items():
        check(scheme == "HTTP", f"{probe} uses {scheme} but the metrics page has no TLS (RAFT_TLS_DIR unset)")


def run_entrypoint(hostname, overrides, files=()):
    """Runs the entrypoint ConfigMap's script with the manifest's environment (POD_NAMESPACE=raft,
    `overrides` replacing variables, a temporary RAFT_TLS_DIR holding `files`) and a stub
    raft-node; returns (exit status, the stub's environment, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        tls = os.path.join(tmp, "tls")
        os.mkdir(tls)
        for name in files:
            open(os.path.join(tls, name), "w").close()
        stub = os.path.join(tmp, "raft-node")
        with open(stub, "w") as f:
            f.write("#!/bin/sh\nenv\n")
        os.chmod(stub, 0o755)
        values = {}
        for e in container["env"]:
            name = e["name"]
            if name in overrides:
                value = overrides[name]
            elif name == "RAFT_TLS_DIR" and e.get("value"):
                value = tls
            elif "valueFrom" in e:
                value = "raft"  # POD_NAMESPACE
            else:
                value = e.get("value") or ""
            values[name] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values.get(m.group(1), m.group(0)), value)
        values.update(HOSTNAME=hostname, RAFT_NODE=stub, PATH=os.environ.get("PATH", "/usr/bin:/bin"))
        script = entrypoint_cm["data"][os.path.basename(container["command"][-1])]
        done = subprocess.run(["sh", "-c", script, "entrypoint"], env=values, capture_output=True, text=True, timeout=10)
        printed = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        return done.returncode, printed, done.stderr.replace(tls, "$TLS"), tls


entrypoint_cm = next((objects.get(("ConfigMap", v["configMap"]["name"])) for v in volumes.values() if "configMap" in v), None)
if entrypoint_cm is None or shutil.which("sh") is None:
    check(False, "cannot run the entrypoint (no ConfigMap volume, or no sh)")
else:
    pairs = lambda n: [f"member-{n}.pem", f"member-{n}-key.pem"]
    every = ["ca.pem", "client.pem", "client-key.pem"] + pairs(1) + pairs(2) + pairs(3) + pairs(4)
    # A first member, and a member added later (ordinal 3 = member 4, which joins).
    for hostname, member, joins in (("raft-0", "1", False), ("raft-3", "4", True)):
        status, got, err, tls = run_entrypoint(hostname, {}, every)
        check(status == 0, f"entrypoint on {hostname} exited {status}: {err.strip()}")
        if status != 0:
            continue
        check(got.get("RAFT_ID") == member, f"entrypoint on {hostname}: RAFT_ID {got.get('RAFT_ID')}, expected {member}")
        check((got.get("RAFT_JOIN") == "1") == joins, f"entrypoint on {hostname}: RAFT_JOIN {got.get('RAFT_JOIN')}")
        if tls_dir:
            for var in member_tls_vars:
                want = os.path.join(tls, f"member-{member}-key.pem" if "KEY" in var else f"member-{member}.pem")
                check(got.get(var) == want, f"entrypoint on {hostname}: {var}={got.get(var)}, expected {want}")
            for var in ("RAFT_PEER_TRUSTED_CA_FILE", "RAFT_TRUSTED_CA_FILE"):
                check(got.get(var) == os.path.join(tls, "ca.pem"), f"entrypoint on {hostname}: {var}={got.get(var)}")
    if tls_dir:
        # Member 2's files missing from the Secret: a clear refusal, not a start without TLS.
        status, got, err, _ = run_entrypoint("raft-1", {}, ["ca.pem"] + pairs(1))
        check(status == 64 and "member 2" in err, f"entrypoint without member 2's files: exit {status}, {err.strip()!r}")
    # Without RAFT_TLS_DIR nothing TLS is set.
    status, got, err, _ = run_entrypoint("raft-0", {"RAFT_TLS_DIR": "", "RAFT_PEER_TRUSTED_CA_FILE": "",
                                                    "RAFT_TRUSTED_CA_FILE": ""})
    check(status == 0 and not any(got.get(v) for v in member_tls_vars),
          f"entrypoint without RAFT_TLS_DIR: exit {status}, {err.strip()!r}")
    print("  ran the entrypoint for raft-0, raft-3" + (", raft-1 without its certificate" if tls_dir else "") + ", and without TLS")

for p in problems:
    print("  PROBLEM:", p)
print(f"  {len(objects)} objects in {len(files)} files; {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
