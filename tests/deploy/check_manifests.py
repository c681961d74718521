#!/usr/bin/env python3
"""Checks the kustomize output of deploy/k8s (built by kustomize_test.sh with kubectl 1.20).

  check_manifests.py core BUILD_DIR          every core object validates offline (strict) against
                                             the Kubernetes schemas of 1.27 and 1.37 (PyPI's
                                             kubernetes-validate), and the service's shape holds
  check_manifests.py operator BUILD_DIR SRC  the Prometheus Operator objects (not in those
                                             schemas): their fields, that they select what the
                                             core objects expose, and that the PrometheusRule
                                             carries deploy/prometheus/alerts.yaml's groups

BUILD_DIR holds base.yaml, monitoring.yaml, cpu-demo.yaml and gpu.yaml. Needs PyYAML (a
dependency of kubernetes-validate); run with the test virtualenv's Python."""
import os
import sys

import yaml

CORE_VERSIONS = ("1.27.0", "1.37.0")
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def load(build, name):
    return [d for d in yaml.safe_load_all(open(os.path.join(build, name + ".yaml"))) if d]


def index(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


class Checker:
    def __init__(self):
        self.problems = []

    def expect(self, ok, what):
        if not ok:
            self.problems.append(what)
        return ok


def container(workload, name):
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


def flag(args, name):
    for a in args:
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def check_core(build):
    import kubernetes_validate as kv

    c = Checker()
    for overlay in ("base", "cpu-demo", "gpu"):
        docs = load(build, overlay)
        for d in docs:
            if d["kind"] in OPERATOR_KINDS:
                continue
            for v in CORE_VERSIONS:
                try:
                    kv.validate(d, v, strict=True)
                except kv.ValidationError as e:
                    c.problems.append(f"{overlay}: {d['kind']}/{d['metadata']['name']} is not a "
                                      f"valid {v} object: {e.message} at {list(e.path)}")
        objs = index(docs)
        where = overlay + ": "
        for key in [("Deployment", "bagel-coordinator"), ("Service", "bagel-coordinator"),
                    ("StatefulSet", "bagel-worker"), ("Service", "bagel-worker"),
                    ("ConfigMap", "bagel-coordinator-config"), ("Secret", "bagel-tokens"),
                    ("PersistentVolumeClaim", "bagel-coordinator-db"),
                    ("PersistentVolumeClaim", "bagel-shared"), ("Namespace", "bagel")]:
            c.expect(key in objs, where + f"no {key[0]}/{key[1]}")
        if c.problems:
            continue
        for d in docs:
            if d["kind"] != "Namespace":
                c.expect(d["metadata"].get("namespace") == "bagel",
                         where + f"{d['kind']}/{d['metadata']['name']} is not in namespace bagel")
        coord = objs[("Deployment", "bagel-coordinator")]
        c.expect(coord["spec"]["replicas"] == 1, where + "the coordinator must have 1 replica")
        c.expect(coord["spec"]["strategy"]["type"] == "Recreate",
                 where + "the coordinator must be replaced, not rolled (one SQLite writer)")
        cc = container(coord, "coordinator")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            c.expect(cc.get(probe, {}).get("grpc", {}).get("port") == 7070,
                     where + f"coordinator {probe} must be a native gRPC probe on 7070")
        config = yaml.safe_load(objs[("ConfigMap", "bagel-coordinator-config")]["data"]
                                ["coordinator.yaml"])
        c.expect(config["listen"].endswith(":7070"), where + "coordinator listens on 7070")
        c.expect(config["metrics"]["listen"].endswith(":9090"), where + "metrics on 9090")
        ckpt = config["checkpoint_root"]
        sts = objs[("StatefulSet", "bagel-worker")]
        headless = objs[("Service", "bagel-worker")]
        c.expect(sts["spec"]["serviceName"] == "bagel-worker", where + "serviceName")
        c.expect(headless["spec"].get("clusterIP") == "None", where + "the worker Service is "
                 "headless")
        c.expect(headless["spec"].get("publishNotReadyAddresses") is True,
                 where + "rendezvous DNS must not wait for readiness")
        labels = sts["spec"]["template"]["metadata"]["labels"]
        c.expect(all(labels.get(k) == v for k, v in headless["spec"]["selector"].items()),
                 where + "the headless Service selects the worker pods")
        wc = container(sts, "worker")
        args = wc["args"]
        c.expect(flag(args, "--coordinator") == "bagel-coordinator:7070",
                 where + "workers reach the coordinator through its Service")
        c.expect(".bagel-worker." in (flag(args, "--address") or ""),
                 where + "--address is the pod's name in the headless Service")
        c.expect(flag(args, "--metrics-listen") == "0.0.0.0:9091", where + "worker metrics")
        grace = float(flag(args, "--shutdown-grace-s") or 0)
        pod_grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        c.expect(pod_grace > grace >= 300, where + f"worker grace {pod_grace} s must exceed the "
                 f"agent's --shutdown-grace-s ({grace} s, itself long enough for a checkpoint)")
        live = wc.get("livenessProbe", {})
        c.expect(live.get("httpGet", {}).get("path") == "/metrics",
                 where + "worker liveness is the agent's own HTTP endpoint")
        for workload, name in ((coord, "coordinator"), (sts, "worker")):
            mounts = {m["mountPath"]: m["name"] for m in container(workload, name)["volumeMounts"]}
            vols = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
            shared = [p for p, n in mounts.items() if ckpt.startswith(p.rstrip("/") + "/")]
            c.expect(bool(shared), where + f"{name} does not mount the checkpoint root {ckpt}")
            if shared:
                v = vols[mounts[shared[0]]]
                c.expect(v.get("persistentVolumeClaim", {}).get("claimName") == "bagel-shared",
                         where + f"{name}: the checkpoint root is on the shared volume")
        tokens = objs[("Secret", "bagel-tokens")]
        keys = set(tokens.get("stringData", {})) | set(tokens.get("data", {}))
        c.expect({"user", "admin", "join"} <= keys, where + "tokens: user, admin, join")
        shared_pvc = objs[("PersistentVolumeClaim", "bagel-shared")]
        res = wc.get("resources", {})
        if overlay == "gpu":
            c.expect(shared_pvc["spec"]["accessModes"] == ["ReadWriteMany"],
                     where + "the shared volume must be ReadWriteMany across nodes")
            c.expect(str(res.get("limits", {}).get("nvidia.com/gpu")) == "8",
                     where + "GPU limit")
            env = {e["name"] for e in wc.get("env", [])}
            c.expect({"NCCL_SOCKET_IFNAME", "TORCH_NCCL_ASYNC_ERROR_HANDLING"} <= env,
                     where + "NCCL settings")
            c.expect("podAntiAffinity" in sts["spec"]["template"]["spec"].get("affinity", {}),
                     where + "one worker per node")
        if overlay == "cpu-demo":
            c.expect(flag(args, "--gpus") == "0", where + "no GPUs")
            c.expect("nvidia.com/gpu" not in str(res), where + "no GPU request")
    return c.problems


def check_operator(build, src):
    import subprocess
    import tempfile

    c = Checker()
    docs = load(build, "monitoring")
    gpu = index(load(build, "gpu"))
    objs = index(docs)
    kinds = {d["kind"] for d in docs}
    c.expect(kinds == OPERATOR_KINDS, f"monitoring: kinds {sorted(kinds)}")
    for d in docs:
        c.expect(d["apiVersion"] == "monitoring.coreos.com/v1", f"{d['kind']}: apiVersion")
        c.expect(d["metadata"].get("namespace") == "bagel", f"{d['kind']}: namespace")
        c.expect(set(d) <= {"apiVersion", "kind", "metadata", "spec"}, f"{d['kind']}: fields")
        c.expect(gpu.get((d["kind"], d["metadata"]["name"])) == d,
                 f"{d['kind']}: the gpu overlay carries it unchanged")
    sm = objs.get(("ServiceMonitor", "bagel-coordinator"))
    if c.expect(sm is not None, "no ServiceMonitor bagel-coordinator"):
        svc = gpu[("Service", "bagel-coordinator")]
        sel = sm["spec"]["selector"]["matchLabels"]
        c.expect(all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()),
                 "the ServiceMonitor selects the coordinator's Service by its labels")
        ports = {p["name"] for p in svc["spec"]["ports"]}
        for e in sm["spec"]["endpoints"]:
            c.expect(set(e) <= {"port", "path", "interval", "scrapeTimeout", "relabelings",
                                "metricRelabelings", "scheme"}, f"ServiceMonitor endpoint {e}")
            c.expect(e.get("port") in ports, f"ServiceMonitor port {e.get('port')} not a Service port")
            c.expect(e.get("path") == "/metrics", "ServiceMonitor path")
    pm = objs.get(("PodMonitor", "bagel-worker"))
    if c.expect(pm is not None, "no PodMonitor bagel-worker"):
        sts = gpu[("StatefulSet", "bagel-worker")]
        labels = sts["spec"]["template"]["metadata"]["labels"]
        sel = pm["spec"]["selector"]["matchLabels"]
        c.expect(all(labels.get(k) == v for k, v in sel.items()),
                 "the PodMonitor selects the worker pods")
        ports = {p["name"] for ct in sts["spec"]["template"]["spec"]["containers"]
                 for p in ct.get("ports", [])}
        for e in pm["spec"]["podMetricsEndpoints"]:
            c.expect(set(e) <= {"port", "path", "interval", "scrapeTimeout", "relabelings",
                                "metricRelabelings", "scheme"}, f"PodMonitor endpoint {e}")
            c.expect(e.get("port") in ports, f"PodMonitor port {e.get('port')} not a pod port")
            for r in e.get("relabelings", []):
                c.expect(set(r) <= {"sourceLabels", "targetLabel", "regex", "replacement",
                                    "action", "separator", "modulus"}, f"relabeling {r}")
    pr = objs.get(("PrometheusRule", "bagel-alerts"))
    if c.expect(pr is not None, "no PrometheusRule bagel-alerts"):
        want = yaml.safe_load(open(os.path.join(src, "deploy/prometheus/alerts.yaml")))
        c.expect(pr["spec"] == want, "the PrometheusRule's groups differ from "
                 "deploy/prometheus/alerts.yaml")
        for d in docs:
            c.expect(d["metadata"].get("labels", {}).get("release"),
                     f"{d['kind']}: no release label for the operator's selectors")
        promtool = os.environ.get("PROMTOOL", "")
        if promtool:
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                yaml.safe_dump(pr["spec"], f)
                f.flush()
                r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True,
                                   text=True)
                c.expect(r.returncode == 0, "promtool check rules on the PrometheusRule: "
                         + r.stdout + r.stderr)
    return c.problems


def main():
    mode, build = sys.argv[1], sys.argv[2]
    problems = check_core(build) if mode == "core" else check_operator(build, sys.argv[3])
    if problems:
        print("\n".join(problems))
        return 1
    print(f"{mode}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
