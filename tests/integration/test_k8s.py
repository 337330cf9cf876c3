"""deploy/k8s checked offline (no cluster runs here): `kubectl kustomize` renders the base and every
overlay, and every rendered object validates against the Kubernetes OpenAPI schema (npm
kubernetes-models, Kubernetes 1.27) or, for KEDA's ScaledObject, its CRD's schema
(@kubernetes-models/keda), unknown fields included (tests/npm/k8s-validate.js). Then what the
README promises of the manifests: AOF with appendfsync always, the api's tight security context,
the worker's RuntimeClass per overlay, KEDA on the queue key, probes, limits, network policies.
Negative cases show that a broken object or kustomization fails."""
import copy
import functools
import json
import os
import re
import shutil
import subprocess

import pytest

import harness
import npm_tools

K8S = os.path.join(harness.SOURCE_DIR, "deploy", "k8s")
TARGETS = ["base", "overlays/gvisor", "overlays/kata"]
RUNTIMES = {"overlays/gvisor": ("gvisor", "runsc"), "overlays/kata": ("kata", "kata")}


def kubectl():
    path = shutil.which("kubectl")
    assert path, "kubectl is not installed (deploy/install-deps.sh installs kubernetes-client)"
    return path


def kustomize(directory):
    """`kubectl kustomize directory`: (returncode, YAML, stderr without deprecation warnings)."""
    r = subprocess.run([kubectl(), "kustomize", directory], capture_output=True, text=True,
                       timeout=60)
    # kustomize >= v5 warns that `bases` and `patchesStrategicMerge` are deprecated; the
    # overlays keep them so that Debian's kubectl 1.20 (kustomize v2.0.3) renders them too.
    err = "\n".join(line for line in r.stderr.splitlines()
                    if not re.match(r"# Warning: '(bases|patchesStrategicMerge)' is deprecated", line))
    return r.returncode, r.stdout, err


def validate(yaml_text):
    """(returncode, [{apiVersion, kind, name, errors, object}]) from tests/npm/k8s-validate.js."""
    r = npm_tools.run_node("k8s-validate.js", input=yaml_text)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, [json.loads(line) for line in r.stdout.splitlines()]


@functools.lru_cache(maxsize=None)
def rendered(target):
    rc, out, err = kustomize(os.path.join(K8S, target))
    assert rc == 0 and not err.strip(), f"kubectl kustomize {target}: rc {rc}\n{err}"
    vrc, objs = validate(out)
    return vrc, objs


def objects(target):
    return {(o["kind"], o["name"]): o["object"] for o in rendered(target)[1]}


@pytest.mark.parametrize("target", TARGETS)
def test_renders_and_validates(target):
    rc, objs = rendered(target)
    bad = {f"{o['kind']}/{o['name']}": o["errors"] for o in objs if o["errors"]}
    assert rc == 0 and not bad, bad
    kinds = {o["kind"] for o in objs}
    assert {"Namespace", "ConfigMap", "StatefulSet", "Service", "Deployment", "Ingress",
            "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject",
            "NetworkPolicy", "PersistentVolumeClaim"} <= kinds, kinds
    namespaced = [o for o in objs if o["kind"] not in ("Namespace", "RuntimeClass")]
    assert all(o["object"]["metadata"].get("namespace") == "code-runner" for o in namespaced)


@pytest.mark.parametrize("target", ["overlays/gvisor", "overlays/kata"])
def test_overlay_puts_the_worker_in_its_runtime_class(target):
    name, handler = RUNTIMES[target]
    objs = objects(target)
    assert objs[("RuntimeClass", name)]["handler"] == handler
    for (kind, n), o in objs.items():
        if kind in ("Deployment", "StatefulSet"):
            rcn = o["spec"]["template"]["spec"].get("runtimeClassName")
            assert rcn == (name if n == "code-runner-worker" else None), (n, rcn)
    assert "runtimeClassName" not in objects("base")[("Deployment", "code-runner-worker")][
        "spec"]["template"]["spec"]


def container(obj):
    (c,) = obj["spec"]["template"]["spec"]["containers"]
    return c


def test_redis_is_durable():
    objs = objects("base")
    conf = objs[("ConfigMap", "code-runner-redis")]["data"]["redis.conf"].splitlines()
    assert "appendonly yes" in conf and "appendfsync always" in conf
    assert "maxmemory-policy noeviction" in conf
    sts = objs[("StatefulSet", "code-runner-redis")]
    mounts = {m["name"]: m["mountPath"] for m in container(sts)["volumeMounts"]}
    assert mounts["data"] == "/data" and "dir /data" in conf
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"


def test_api_security_probes_and_scaling():
    objs = objects("base")
    api = objs[("Deployment", "code-runner-api")]
    pod = api["spec"]["template"]["spec"]
    c = container(api)
    sc = c["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    assert c["livenessProbe"]["httpGet"]["path"] in ("/health", "/openapi.json")
    hpa = objs[("HorizontalPodAutoscaler", "code-runner-api")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "code-runner-api"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = objs[("PodDisruptionBudget", "code-runner-api")]
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]


def test_every_container_has_requests_and_limits():
    for (kind, name), o in objects("base").items():
        if kind in ("Deployment", "StatefulSet"):
            res = container(o)["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(
                res["limits"]), name


def test_worker_grants_are_each_explained():
    """Every capability the worker adds has a comment on its line in the source manifest."""
    worker = objects("base")[("Deployment", "code-runner-worker")]
    caps = container(worker)["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"] and "SYS_ADMIN" in caps["add"]
    with open(os.path.join(K8S, "base", "worker.yaml")) as f:
        lines = f.read().splitlines()
    for cap in caps["add"]:
        (line,) = [ln for ln in lines if re.match(rf"\s*- {cap}\b", ln)]
        assert re.search(r"#\s*\S", line), f"capability {cap} has no comment"
    env = {e["name"]: e.get("value") for e in container(worker)["env"]}
    assert env["EXECUTOR"] == "oci"


def test_keda_scales_the_workers_on_the_queue_key():
    objs = objects("base")
    so = objs[("ScaledObject", "code-runner-worker")]
    assert so["spec"]["scaleTargetRef"]["name"] == "code-runner-worker"
    (trigger,) = so["spec"]["triggers"]
    prefix = objs[("ConfigMap", "code-runner-config")]["data"]["REDIS_PREFIX"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == prefix + "queue" == "coderunner:queue"
    assert trigger["metadata"]["address"].startswith("code-runner-redis.code-runner.svc:")


def selects(policy_peer, component):
    return policy_peer.get("podSelector", {}).get("matchLabels", {}).get(
        "app.kubernetes.io/component") == component and "namespaceSelector" not in policy_peer


def test_network_policies():
    objs = objects("base")
    deny = objs[("NetworkPolicy", "code-runner-default-deny")]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    w = objs[("NetworkPolicy", "code-runner-worker")]["spec"]
    assert w["ingress"] == []
    to_redis, dns = w["egress"]
    assert selects(to_redis["to"][0], "redis") and to_redis["ports"] == [
        {"protocol": "TCP", "port": 6379}]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"}
    api = objs[("NetworkPolicy", "code-runner-api")]["spec"]
    (ing,) = api["ingress"]
    assert ing["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}]
    redis = objs[("NetworkPolicy", "code-runner-redis")]["spec"]
    peers = redis["ingress"][0]["from"]
    assert [selects(p, "api") or selects(p, "worker") for p in peers].count(True) == 2
    assert redis["egress"] == []


# ---- the checks can fail ----

def broken_objects():
    base = objects("base")
    worker = copy.deepcopy(base[("Deployment", "code-runner-worker")])
    container(worker)["securityContext"]["capabilities"]["addd"] = ["SYS_ADMIN"]
    no_selector = copy.deepcopy(base[("Deployment", "code-runner-api")])
    del no_selector["spec"]["selector"]
    so_unknown = copy.deepcopy(base[("ScaledObject", "code-runner-worker")])
    so_unknown["spec"]["triggers"][0]["metdata"] = {}
    so_missing = copy.deepcopy(base[("ScaledObject", "code-runner-worker")])
    del so_missing["spec"]["scaleTargetRef"]["name"]
    hpa = copy.deepcopy(base[("HorizontalPodAutoscaler", "code-runner-api")])
    hpa["spec"]["maxReplicas"] = "ten"
    return {
        "unknown field": (worker, "unknown field /spec/template/spec/containers/0/"
                                  "securityContext/capabilities/addd"),
        "missing required": (no_selector, "must have required property selector"),
        "keda unknown field": (so_unknown, "unknown field /spec/triggers/0/metdata"),
        "keda missing required": (so_missing, "must have required property name"),
        "wrong type": (hpa, "maxReplicas must be integer"),
        "unknown kind": ({"apiVersion": "apps/v1", "kind": "Deploymnt",
                          "metadata": {"name": "x"}}, "no schema for apiVersion apps/v1"),
    }


@pytest.mark.parametrize("case", ["unknown field", "missing required", "keda unknown field",
                                  "keda missing required", "wrong type", "unknown kind"])
def test_validator_rejects_broken_object(case):
    obj, message = broken_objects()[case]
    good = objects("base")[("Namespace", "code-runner")]
    rc, out = validate(json.dumps(good) + "\n---\n" + json.dumps(obj))
    assert rc == 1
    assert out[0]["errors"] == []
    assert any(message in e for e in out[1]["errors"]), out[1]["errors"]


def test_kustomize_failure_is_seen(tmp_path):
    """An overlay (beside the real ones) naming a patch that does not exist does not render."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    d = tree / "overlays" / "broken"
    d.mkdir()
    (d / "kustomization.yaml").write_text(
        "bases:\n- ../../base\npatchesStrategicMerge:\n- missing.yaml\n")
    rc, _, err = kustomize(str(d))
    assert rc != 0 and "missing.yaml" in err, err
    rc, _, err = kustomize(str(tree / "overlays" / "kata"))  # the copy itself renders
    assert rc == 0, err
