"""The Kubernetes manifests and the Dockerfile, checked offline.

Each kustomization is rendered with ``kubectl kustomize``; every core resource must pass
``kubernetes-validate --strict``, every custom resource its JSON schema (schemas/README.md
says where they come from); checkov and hadolint must pass. Then the choices of the plan
as reviewed (seed/REVIEW.md) are asserted, so that a later edit cannot quietly undo them.
A test skips, saying which, only when a tool is not installed.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from balise.config import SETTINGS

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUSTOMIZATIONS = ["overlays/dev", "overlays/production", "overlays/production-redis-cluster",
                  "overlays/loadbalancer", "rollout", "gateway"]
OVERLAYS = KUSTOMIZATIONS[:4]  # the balise pods, each way
DOCS = REPO / "docs" / "deploy.md"
KUBERNETES_VERSION = "1.30.0"  # the oldest minor release the manifests target
CUSTOM_SCHEMAS = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway.networking.k8s.io-v1.json",
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): "verticalpodautoscaler-autoscaling.k8s.io-v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring.coreos.com-v1.json",
}


def tool(name: str) -> str:
    """The path of a command-line tool: beside this Python (a venv's bin/) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (see docs/deploy.md, 'Validating the manifests')")
    return found


@cache
def render(kustomization: str) -> tuple[str, list[dict]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it renders the kustomizations (`kubectl kustomize`)")
    done = subprocess.run([kubectl, "kustomize", str(KUBERNETES / kustomization)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout, [d for d in yaml.safe_load_all(done.stdout) if d]


def resources(kustomization: str, kind: str | None = None, name: str | None = None) -> list[dict]:
    return [d for d in render(kustomization)[1]
            if (kind is None or d["kind"] == kind) and (name is None or d["metadata"]["name"] == name)]


def one(kustomization: str, kind: str, name: str) -> dict:
    found = resources(kustomization, kind, name)
    assert len(found) == 1, f"{kind}/{name} in {kustomization}: {len(found)}"
    return found[0]


def pod_containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def pod_specs(kustomization: str) -> list[tuple[dict, dict]]:
    out = []
    for d in render(kustomization)[1]:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            out.append((d, d["spec"]["template"]["spec"]))
    return out


# --- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_core_resources_are_valid_for_kubernetes_strict(kustomization):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    core = [d for d in render(kustomization)[1] if (d["apiVersion"], d["kind"]) not in CUSTOM_SCHEMAS]
    assert core
    for document in core:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{kustomization}: {document['kind']}/{document['metadata']['name']}: {e.message} "
                        f"at {'/'.join(map(str, e.path))}")


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_custom_resources_match_their_crd_schemas(kustomization):
    import jsonschema

    for document in render(kustomization)[1]:
        schema_file = CUSTOM_SCHEMAS.get((document["apiVersion"], document["kind"]))
        if schema_file is None:
            continue
        validator = jsonschema.Draft7Validator(strict_schema(schema_file))
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, f"{document['kind']}/{document['metadata']['name']}: {errors}"


@cache
def strict_schema(name: str) -> dict:
    """The schema, where every object listing its properties refuses any other (as
    `kubectl --validate=strict` refuses an unknown field)."""
    schema = copy.deepcopy(json.loads((SCHEMAS / name).read_text()))

    def close(node):
        if isinstance(node, dict):
            if (node.get("properties") and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def test_the_schemas_catch_a_wrong_field():
    """The custom-resource check is not vacuous: a misspelt or misplaced field fails."""
    import jsonschema

    route = copy.deepcopy(one("overlays/production", "HTTPRoute", "balise"))
    route["spec"]["rules"][0]["backendRef"] = route["spec"]["rules"][0].pop("backendRefs")
    assert list(jsonschema.Draft7Validator(strict_schema(CUSTOM_SCHEMAS[
        ("gateway.networking.k8s.io/v1", "HTTPRoute")])).iter_errors(route))
    vpa = copy.deepcopy(one("overlays/production", "VerticalPodAutoscaler", "balise"))
    vpa["spec"]["updatePolicy"]["updateMode"] = "Sometimes"
    assert list(jsonschema.Draft7Validator(strict_schema(CUSTOM_SCHEMAS[
        ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler")])).iter_errors(vpa))


# --- linters ----------------------------------------------------------------------------------


def test_checkov_passes_on_every_rendered_manifest_and_the_dockerfile(tmp_path):
    checkov = tool("checkov")
    files = []
    for kustomization in KUSTOMIZATIONS:
        # NOTE: checkov skips, silently, a whole file holding "{{" (it takes it for a Helm
        # template): the PrometheusRule's alert texts do, and checkov has no check for them.
        documents = [d for d in render(kustomization)[1] if "{{" not in json.dumps(d)]
        path = tmp_path / (kustomization.replace("/", "-") + ".yaml")
        path.write_text(yaml.safe_dump_all(documents))
        files += ["--file", str(path)]
    done = subprocess.run(
        [checkov, *files, "--file", str(REPO / "Dockerfile"), "--framework", "kubernetes", "dockerfile",
         "--output", "json", "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=600)
    reports = json.loads(done.stdout or "[]")
    reports = {r["check_type"]: r for r in (reports if isinstance(reports, list) else [reports])}
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for report in reports.values() for c in report["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert done.returncode == 0, done.stderr[-2000:]
    # Checkov did read every file: its checks ran on them.
    assert reports["kubernetes"]["summary"]["passed"] > 500
    assert reports["kubernetes"]["summary"]["parsing_errors"] == 0
    assert reports["dockerfile"]["summary"]["passed"] > 20
    skipped = {c["check_id"] for report in reports.values() for c in report["results"]["skipped_checks"]}
    assert skipped <= {"CKV_K8S_40", "CKV_K8S_43", "CKV_K8S_38", "CKV_DOCKER_7"}, skipped  # each justified


def test_hadolint_passes_on_the_dockerfile():
    done = subprocess.run([tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the plan as reviewed ---------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_resource_has_its_namespace_and_every_image_its_registry_and_tag(kustomization):
    for document in render(kustomization)[1]:
        if document["kind"] not in ("Namespace", "StorageClass"):
            assert document["metadata"].get("namespace"), f"{document['kind']}/{document['metadata']['name']}"
    for _, pod in pod_specs(kustomization):
        for container in pod_containers(pod):
            image = container["image"]
            assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+/[\w./-]+:[\w.-]+", image), image


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_is_non_root_read_only_without_capabilities(kustomization):
    for owner, pod in pod_specs(kustomization):
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in pod_containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (where, container["name"])
            assert context["readOnlyRootFilesystem"] is True, (where, container["name"])
            assert context["capabilities"] == {"drop": ["ALL"]}, (where, container["name"])
            assert "limits" in container["resources"] and "requests" in container["resources"]


@pytest.mark.parametrize("kustomization", ["overlays/dev", "overlays/production"])
def test_the_balise_pod(kustomization):
    deployment = one(kustomization, "Deployment", "balise")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["fsGroup"] == 1000
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (fetch,) = pod["initContainers"]
    assert fetch["args"][:2] == ["bundle", "fetch"]
    (balise,) = pod["containers"]
    assert balise["args"] == ["serve"]
    assert balise["startupProbe"]["httpGet"]["path"] == "/health/ready"
    assert balise["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert balise["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert balise["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    mounts = {m["name"]: m for m in balise["volumeMounts"]}
    assert mounts["index"]["readOnly"] is True  # only the init container writes the index
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tmp"]["emptyDir"]["medium"] == "Memory"
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    preferred = pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["nodeAffinity"]
    weights = {p["preference"]["matchExpressions"][0]["key"]: p["weight"] for p in preferred}
    assert weights == {"node.kubernetes.io/instance-type": 100, "karpenter.sh/capacity-type": 80}
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > int(balise["lifecycle"]["preStop"]["exec"]["command"][1]) + 30  # + GRACEFUL_TIMEOUT


def test_autoscaling_budget_and_service():
    hpa = one("overlays/production", "HorizontalPodAutoscaler", "balise")
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]  # no memory target
    assert hpa["spec"]["maxReplicas"] == 20
    scale_up = hpa["spec"]["behavior"]["scaleUp"]
    assert scale_up["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 60}]
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert one("overlays/production", "VerticalPodAutoscaler", "balise")["spec"]["updatePolicy"] == {
        "updateMode": "Off"}
    for kustomization in ("overlays/production", "overlays/production-redis-cluster"):
        for pdb in resources(kustomization, "PodDisruptionBudget"):
            assert pdb["spec"] == {**pdb["spec"], "maxUnavailable": 1} and "minAvailable" not in pdb["spec"]
    service = one("overlays/production", "Service", "balise")
    assert service["spec"]["type"] == "ClusterIP" and "sessionAffinity" not in service["spec"]


def test_the_route_adds_no_hop_by_hop_headers():
    route = one("overlays/production", "HTTPRoute", "balise")
    text = json.dumps(route).lower()
    assert "keep-alive" not in text and '"connection"' not in text
    paths = {m["path"]["value"] for rule in route["spec"]["rules"] for m in rule["matches"]}
    assert "/metrics" not in paths and not any(p.startswith("/health/") for p in paths)


def test_network_policies():
    policies = {p["metadata"]["name"]: p["spec"] for p in resources("overlays/production", "NetworkPolicy")}
    text = json.dumps(policies)
    assert '"name": "envoy-gateway-system"' not in text  # namespaces by kubernetes.io/metadata.name
    assert "kubernetes.io/metadata.name" in text
    app = policies["balise"]
    ports = {(p["protocol"], p["port"]) for rule in app["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 6379), ("TCP", 26379)}  # no 443 here
    download = policies["balise-bundle-download"]
    assert download["policyTypes"] == ["Egress"]
    assert [p["port"] for rule in download["egress"] for p in rule["ports"]] == [443]
    gateway = app["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert gateway == {"kubernetes.io/metadata.name": "envoy-gateway-system"}


def test_storage_class():
    (storage,) = resources("overlays/production", "StorageClass")
    assert storage["provisioner"] == "ebs.csi.aws.com"
    assert "namespace" not in storage["metadata"]
    assert storage["mountOptions"] == ["noatime"]


def test_redis_is_a_cache():
    config = next(d for d in resources("overlays/production", "ConfigMap")
                  if d["metadata"]["name"].startswith("redis-config"))
    conf = config["data"]["redis.conf"]
    assert re.search(r"^maxmemory-policy allkeys-lru$", conf, re.M)
    assert re.search(r"^appendonly no$", conf, re.M) and re.search(r'^save ""$', conf, re.M)
    sentinel = one("overlays/production", "StatefulSet", "redis")
    assert [c["name"] for c in sentinel["spec"]["template"]["spec"]["containers"]] == ["redis", "sentinel"]
    assert sentinel["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "2gb"
    cluster = one("overlays/production-redis-cluster", "StatefulSet", "redis-cluster")
    assert cluster["spec"]["replicas"] == 6
    assert not resources("overlays/production-redis-cluster", "StatefulSet", "redis")


def rollout_names(directory: Path) -> dict[str, str]:
    """kind -> name of what a rollout kustomization renders (one of each kind)."""
    kubectl = shutil.which("kubectl") or pytest.skip("kubectl is not installed")
    done = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    documents = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert len({d["kind"] for d in documents}) == len(documents)
    return {d["kind"]: d["metadata"]["name"] for d in documents}


def test_the_rollout_can_be_applied_again_and_for_each_release(tmp_path):
    """`kubectl apply -k deploy/kubernetes/rollout` is rerunnable: the Job, whose spec cannot
    change once created, is named after the release, so the same release applies unchanged
    and a new one makes a new Job; everything else keeps its name and is updated in place."""
    (config,) = resources("rollout", "ConfigMap")
    release = config["data"]["RELEASE"]
    (job,) = resources("rollout", "Job")
    assert job["metadata"]["name"] == f"balise-rollout-{release}"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", job["metadata"]["name"])
    assert len(job["metadata"]["name"]) <= 63  # a Job's name is also a label value of its pods
    names = rollout_names(KUBERNETES / "rollout")
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    release_env = copy / "components" / "release" / "release.env"
    release_env.write_text(release_env.read_text().replace(f"RELEASE={release}",
                                                           "RELEASE=ban-france-2026-12"))
    other = rollout_names(copy / "rollout")
    assert other["Job"] == "balise-rollout-ban-france-2026-12"
    assert {k: v for k, v in other.items() if k not in ("Job", "ConfigMap")} == {
        k: v for k, v in names.items() if k not in ("Job", "ConfigMap")}
    assert "kubectl create" not in (KUBERNETES / "rollout" / "kustomization.yaml").read_text()


def test_gitops_owns_the_rollout():
    """The rollout Job changes nothing in the cluster (no `kubectl set env`, whose env entries
    would then override the ConfigMap; no API access); it runs the image production runs,
    both set in one place (components/release)."""
    rendered = render("rollout")[0]
    assert "set env" not in rendered and "kubectl" not in rendered
    assert not resources("rollout", "Role") and not resources("rollout", "RoleBinding")
    (job,) = resources("rollout", "Job")
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    images = {c["image"] for c in pod_containers(job["spec"]["template"]["spec"])}
    for overlay in ("overlays/production", "overlays/production-redis-cluster", "overlays/loadbalancer"):
        deployment = one(overlay, "Deployment", "balise")
        assert {c["image"] for c in pod_containers(deployment["spec"]["template"]["spec"])} == images
        for c in pod_containers(deployment["spec"]["template"]["spec"]):
            explicit = {e["name"] for e in c.get("env", [])}
            assert not explicit & {"BALISE_BUNDLE_URL", "BALISE_BUNDLE_SHA256"}
    for path in KUBERNETES.rglob("*.yaml"):
        text = path.read_text()
        if path.parent.name != "release" and "overlays" in path.parts and "production" in str(path):
            assert "newTag" not in text, f"{path}: the image tag is components/release's alone"


@pytest.mark.parametrize("overlay", ["overlays/production", "overlays/production-redis-cluster",
                                     "overlays/loadbalancer", "rollout"])
def test_production_pins_a_versioned_bundle_by_checksum(overlay):
    """What a production pod fetches is one versioned bundle with its sha256 (a `latest` URL
    would give a pod restarted later another index), the rollout Job's too; a new release
    gives the ConfigMap a new name, so the Deployment rolls."""
    (release,) = [d for d in resources(overlay, "ConfigMap")
                  if d["metadata"]["name"].startswith("balise-release-")]
    url, sha256 = release["data"]["BALISE_BUNDLE_URL"], release["data"]["BALISE_BUNDLE_SHA256"]
    assert re.fullmatch(r"[0-9a-f]{64}", sha256) and set(sha256) != {"0"}
    assert "latest" not in url and release["data"]["RELEASE"] in url
    if overlay != "rollout":
        pod = one(overlay, "Deployment", "balise")["spec"]["template"]["spec"]
        (fetch,) = [c for c in pod["initContainers"] if c["name"] == "fetch-index"]
        refs = [e["configMapRef"]["name"] for e in fetch["envFrom"]]
        assert refs[-1] == release["metadata"]["name"], "the release's bundle wins over the base's"


def config_of(kustomization: str) -> dict[str, str]:
    return next(d for d in resources(kustomization, "ConfigMap")
                if d["metadata"]["name"].startswith("balise-config"))["data"]


def test_settings_in_the_configmap_are_read_by_something():
    """Only variables that something reads (no PYTHONGC, no SOMAXCONN): balise's settings,
    and two read by a library."""
    read_elsewhere = {"MALLOC_ARENA_MAX", "PROMETHEUS_MULTIPROC_DIR"}  # glibc, prometheus_client
    known = {s.name for s in SETTINGS} | read_elsewhere
    for kustomization in OVERLAYS:
        config = config_of(kustomization)
        assert set(config) <= known, set(config) - known
        scheme = config["BALISE_REDIS_URL"].split("://")[0]
        assert scheme == ("redis+cluster" if "cluster" in kustomization else "redis+sentinel")


PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                             "fd00::/8", "fc00::/7")]


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_no_whole_private_range_is_trusted(kustomization):
    """Trust by hops and by the gateway's pods, never by ranges: no trusted network, and no
    operator network, holds a whole private range (where a load balancer that drops client
    addresses, or a client in the VPC, would choose its address)."""
    from balise.values import hosts

    config = config_of(kustomization)
    for name in ("BALISE_TRUSTED_PROXIES", "BALISE_HEALTH_NETWORKS"):
        for network in hosts(config.get(name, "")).networks:
            assert not any(network.version == p.version and (network.supernet_of(p) or network == p)
                           for p in PRIVATE), f"{kustomization}: {name} trusts {network}"
    assert int(config.get("BALISE_TRUSTED_HOPS", "1")) == 1


def gateway_app(kustomization: str, sample_index, gateways: set[str], monkeypatch, **env: str):
    """The app with the pod's settings (its ConfigMap; no Redis, the sample index), the
    gateway's pods resolving to ``gateways``."""
    import ipaddress as ip

    import falcon.testing

    from balise import Geocoder
    from balise.config import Settings
    from balise.http import create_app

    monkeypatch.setattr("balise.ops.clientip.resolve", lambda name: {ip.ip_address(a) for a in gateways}
                        if name.startswith("balise-gateway.") else set())
    settings = Settings.from_env({**config_of(kustomization), "BALISE_INDEX": str(sample_index),
                                  "BALISE_REDIS_URL": "", "BALISE_LOG_REQUESTS": "false", **env})
    return falcon.testing.TestClient(create_app(Geocoder.open(sample_index), settings))


@pytest.mark.parametrize("kustomization", ["overlays/dev", "overlays/production",
                                           "overlays/production-redis-cluster"])
def test_rate_limits_count_per_client_behind_the_gateway(kustomization, sample_index, monkeypatch):
    """The app with the pod's settings: two clients behind one gateway pod each get their
    own limit, a client cannot escape its own by what it writes in X-Forwarded-For (a private
    hop on its right included), cannot open /health/detailed, and nobody else is trusted."""
    pods = {"10.244.1.7", "172.20.3.4", "192.168.5.6"}
    client = gateway_app(kustomization, sample_index, pods, monkeypatch, BALISE_RATE_LIMITS="*=10/minute")

    def search(gateway: str, forwarded: str) -> int:
        return client.simulate_get("/search/", params={"q": "rivoli"}, remote_addr=gateway,
                                   headers={"X-Forwarded-For": forwarded}).status_code

    for gateway in sorted(pods):
        first, second = f"198.51.100.{gateway.split('.')[1]}", f"203.0.113.{gateway.split('.')[1]}"
        assert [search(gateway, first) for _ in range(11)] == [200] * 10 + [429]
        assert search(gateway, f"6.6.6.6, {first}") == 429  # a forged left hop changes nothing
        assert search(gateway, second) == 200  # another client, the same gateway pod
        lb = f"10.0.3.{gateway.split('.')[1]}"  # a private hop before the gateway: the client
        assert [search(gateway, f"{n}.1.2.3, {lb}") for n in range(1, 12)] == [200] * 10 + [429]
        for forwarded in ("127.0.0.1", f"127.0.0.1, {lb}"):
            assert client.simulate_get("/health/detailed", remote_addr=gateway,
                                       headers={"X-Forwarded-For": forwarded}).status_code == 403
    assert search("10.9.9.9", "192.0.2.1") == 200 and search("10.9.9.9", "192.0.2.2") == 200
    outside = [search("10.9.9.9", f"192.0.2.{n}") for n in range(3, 12)]
    assert outside[-1] == 429  # not a gateway pod: its header is ignored, its own address counts


def documented_public_paths() -> set[str]:
    """The public API as docs/deploy.md states it ("**Public paths**: `...`")."""
    line = re.search(r"^\*\*Public paths\*\*: (.+)$", DOCS.read_text(), re.M)
    assert line, "docs/deploy.md states the public paths"
    return set(re.findall(r"`([^`]+)`", line.group(1)))


def test_the_route_and_the_loadbalancer_variant_expose_exactly_the_public_paths(sample_index, monkeypatch):
    """The HTTPRoute matches exactly the documented public paths (PathPrefix /x is /x/*), and
    so does the LoadBalancer variant's BALISE_PUBLIC_PATHS; with its settings, every route of
    the app answers a public client (not 403, not 404) if and only if it is documented."""
    from falcon import inspect

    from balise.ops.access import covers

    public = documented_public_paths()
    assert public == {"/search/*", "/reverse/*", "/geocodage/*", "/openapi.json", "/health"}
    for kustomization in ("overlays/dev", "overlays/production"):
        route = one(kustomization, "HTTPRoute", "balise")
        matches = {m["path"]["value"] + "/*" if m["path"]["type"] == "PathPrefix" else m["path"]["value"]
                   for rule in route["spec"]["rules"] for m in rule["matches"]}
        assert {m for m in matches if not any(covers(p, m.removesuffix("/*")) for p in public)} == set()
        assert {p for p in public if p not in matches} == set(), kustomization
    assert not resources("overlays/loadbalancer", "HTTPRoute")
    assert set(config_of("overlays/loadbalancer")["BALISE_PUBLIC_PATHS"].split(",")) == public
    client = gateway_app("overlays/loadbalancer", sample_index, set(), monkeypatch, BALISE_RATE_LIMITS="")
    routes = [r.path for r in inspect.inspect_routes(client.app)]
    assert {"/search", "/batch", "/status", "/metrics", "/health/detailed", "/lookup", "/"} <= set(routes)
    for path in routes:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in ("GET", "POST"):
            status = client.simulate_request(method, concrete, remote_addr="198.51.100.1").status_code
            expected_public = any(covers(p, path) for p in public)
            assert (status not in (403, 404)) == expected_public or (status == 405 and expected_public), \
                (method, path, status)
    assert client.simulate_get("/status", remote_addr="127.0.0.1").status_code == 200  # the pod's own
    (balise,) = one("overlays/loadbalancer", "Deployment", "balise")["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):  # from inside: an operator
        command = " ".join(balise[probe]["exec"]["command"])
        assert "httpGet" not in balise[probe] and "127.0.0.1:7878/health/" in command
    service = one("overlays/loadbalancer", "Service", "balise")["spec"]
    assert service["type"] == "LoadBalancer" and service["externalTrafficPolicy"] == "Local"


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return float(quantity[:-2]) * factor
    return float(quantity) / 2**20


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_the_spool_volume_holds_every_upload_the_settings_allow(kustomization):
    """CSV uploads spool to a volume of their own (not /tmp, a 64 MiB RAM volume shared with
    the metrics), sized for WORKERS (the CPU limit) x THREADS (body slots) x BALISE_CSV_MAX_BYTES,
    within the container's ephemeral-storage limit."""
    config = config_of(kustomization)
    pod = one(kustomization, "Deployment", "balise")["spec"]["template"]["spec"]
    (balise,) = pod["containers"]
    workers = int(balise["resources"]["limits"]["cpu"])
    most = workers * int(config["THREADS"]) * int(config["BALISE_CSV_MAX_BYTES"]) / 2**20
    mounts = {m["mountPath"]: m["name"] for m in balise["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[config["BALISE_SPOOL_DIR"]])
    size = mebibytes(volume["emptyDir"]["sizeLimit"])
    assert "medium" not in volume["emptyDir"] and size >= most, (size, most)
    assert mebibytes(balise["resources"]["limits"]["ephemeral-storage"]) >= size + 128


@pytest.mark.parametrize("kustomization", ["overlays/dev", "overlays/production"])
def test_the_route_lets_the_longest_csv_through(kustomization):
    """The CSV routes' timeouts cover the largest file the settings allow, sent at the
    minimum rate, then its most lines geocoded at 1,000 a second (the gateway's default
    would cut it after 15 s)."""
    config = config_of(kustomization)
    upload = float(config["BALISE_BODY_TIMEOUT"]) + int(config["BALISE_CSV_MAX_BYTES"]) / int(
        config["BALISE_BODY_MIN_RATE"])
    longest = upload + int(config["BALISE_CSV_MAX_ROWS"]) / 1000
    route = one(kustomization, "HTTPRoute", "balise")
    for path in ("/search/csv", "/reverse/csv"):
        (rule,) = [r for r in route["spec"]["rules"] if {"type": "PathPrefix", "value": path} in
                   [m["path"] for m in r["matches"]]]
        for timeout in ("request", "backendRequest"):
            assert seconds(rule["timeouts"][timeout]) >= longest, (path, timeout, longest)


def seconds(duration: str) -> float:
    """A Gateway API duration (``1h2m3s``, ``500ms``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|h|m|s)", duration))


def test_the_dockerfile():
    text = (REPO / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines()
                    if line and not line.startswith(("#", " "))]
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    assert [i[1].split()[0] for i in instructions if i[0] == "FROM"] == ["${PYTHON_IMAGE}"] * 2
    assert ["USER", "1000:1000"] in instructions
    assert any(i[0] == "HEALTHCHECK" for i in instructions)
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "march=native" not in code and "curl" not in code
    assert int(re.search(r"PYTHONOPTIMIZE=(\d)", text).group(1)) <= 1
    assert ["ENTRYPOINT", '["balise"]'] in instructions and ["CMD", '["serve"]'] in instructions
    # The compiled core is built in the first stage; the runtime image has no compiler.
    build, runtime = text.split("\nFROM ${PYTHON_IMAGE} AS runtime", 1)
    assert "gcc" in build and "gcc" not in runtime
