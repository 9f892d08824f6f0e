#!/usr/bin/env python3
"""Offline checks of the manifests in deploy/k8s (no cluster, kubectl or kubeconform needed).

YAML syntax, then the cross-references a typo would break silently: selectors vs. pod labels,
the StatefulSet's serviceName vs. the headless Service, named ports used by Services and probes,
volumes and the entrypoint ConfigMap, $(VAR) references, RAFT_CLUSTER vs. replicas and the
stable DNS names, and the kustomization's file list. Exit status 1 on any problem.

    python3 deploy/k8s/check-manifests.py
"""
import os
import re
import sys

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

for p in problems:
    print("  PROBLEM:", p)
print(f"  {len(objects)} objects in {len(files)} files; {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
