"""The deployment examples (examples/kubernetes, examples/compose) keep the settings the image needs to run well."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from aiohttp_nginx_base import settings
from aiohttp_nginx_base.settings import BY_NAME
from tests.extras import missing

yaml = pytest.importorskip("yaml")  # PyYAML, in the test extra

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KUBERNETES = EXAMPLES / "kubernetes"
HEALTHCHECK = ["aiohttp-nginx", "healthcheck"]
# the oldest Kubernetes minor still supported upstream when this was written, and the newest the validator knows
KUBERNETES_VERSIONS = ("1.31", "latest")


def kustomize_command() -> Optional[List[str]]:
    """`kustomize build`, or kubectl's built-in copy of it; None when neither is installed."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render_kustomization(directory: Path) -> List[Dict[str, Any]]:
    command = kustomize_command()
    assert command is not None
    result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def base_files() -> List[Path]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return [KUBERNETES / name for name in kustomization["resources"]]


def load_kubernetes() -> List[Dict[str, Any]]:
    """The base as kustomize renders it; without kustomize, its resource files as they are."""
    if kustomize_command() is not None:
        return render_kustomization(KUBERNETES)
    return [doc for f in base_files() for doc in yaml.safe_load_all(f.read_text()) if doc]


def with_ingress(tmp_path: Path) -> List[Dict[str, Any]]:
    """An overlay as a user writes one: the base plus the ingress component."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(KUBERNETES, overlay)  # kustomize refuses absolute paths
    (overlay / "kustomization.yaml").write_text(f"resources:\n  - {base}\ncomponents:\n  - {base}/ingress\n")
    return render_kustomization(overlay)


def only(kind: str, docs: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    found = [doc for doc in (docs if docs is not None else load_kubernetes()) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod() -> Dict[str, Any]:
    return dict(only("Deployment")["spec"]["template"]["spec"])


def app_container(docs: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    containers = only("Deployment", docs)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(container: Dict[str, Any]) -> Dict[str, str]:
    return {item["name"]: str(item["value"]) for item in container.get("env", [])}


def graceful_timeout(env: Dict[str, str]) -> int:
    """The manifest's GRACEFUL_TIMEOUT, else the image's default."""
    var = BY_NAME["GRACEFUL_TIMEOUT"]
    return int(var.parse(var.name, env.get(var.name) or var.default or "0"))


def seconds(duration: str) -> float:
    """A compose duration (`15s`, `1m30s`, `500ms`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_the_kustomization_lists_every_manifest_of_the_base() -> None:
    assert sorted(p.name for p in base_files()) == sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
    kinds = sorted(doc["kind"] for doc in load_kubernetes())
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_resource_is_valid_against_the_kubernetes_schemas(tmp_path: Path, version: str) -> None:
    """Offline: kubernetes-validate carries the schemas. With kustomize, the base and the ingress overlay as rendered."""
    try:
        import kubernetes_validate
    except ImportError:
        missing("kubernetes-validate", "lint")
    docs = load_kubernetes()
    if kustomize_command() is not None:
        docs += [d for d in with_ingress(tmp_path) if d["kind"] == "Ingress"]
    else:
        docs += [d for d in yaml.safe_load_all((KUBERNETES / "ingress" / "ingress.yaml").read_text()) if d]
    wanted = kubernetes_validate.latest_version() if version == "latest" else version
    for doc in docs:
        kubernetes_validate.validate(doc, wanted, strict=True)  # raises with the field's path when invalid
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress"}


def test_kubernetes_probes_are_http_on_the_probe_prefix() -> None:
    container = app_container()
    prefix = BY_NAME["PROBE_PREFIX"].default
    expected = {"startupProbe": "readyz", "readinessProbe": "readyz", "livenessProbe": "livez"}
    for probe, name in expected.items():
        assert "exec" not in container[probe], f"{probe} would start a process"
        assert container[probe]["httpGet"] == {"path": f"{prefix}/{name}", "port": "http"}, probe


def test_kubernetes_stop_fits_the_grace_period_without_a_pre_stop_sleep() -> None:
    spec = pod()
    container = app_container()
    env = env_of(container)
    assert "lifecycle" not in container, "SHUTDOWN_DELAY replaces the preStop sleep"
    assert int(env["SHUTDOWN_DELAY"]) >= 5, "endpoint removal needs a few seconds to reach every kube-proxy"
    assert int(env["STOP_TIMEOUT"]) == spec["terminationGracePeriodSeconds"]
    # the stack's own check (it refuses to start otherwise) accepts these values
    settings._check_stop_budget(int(env["SHUTDOWN_DELAY"]), graceful_timeout(env), int(env["STOP_TIMEOUT"]))


def test_rolling_updates_never_go_below_the_ready_count() -> None:
    deployment = only("Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the count"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert only("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert only("Service")["spec"]["selector"] == selector
    hpa = only("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert hpa["minReplicas"] >= 2 and only("PodDisruptionBudget")["spec"]["minAvailable"] < hpa["minReplicas"]


def test_the_ingress_component_routes_to_the_service_and_makes_the_app_trust_it(tmp_path: Path) -> None:
    if kustomize_command() is None:
        pytest.skip("neither kustomize nor kubectl is installed")
    docs = with_ingress(tmp_path)
    backend = only("Ingress", docs)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": only("Service", docs)["metadata"]["name"], "port": {"name": "http"}}
    env = env_of(app_container(docs))
    assert env["FORWARDED_ALLOW_IPS"], "the ingress controller's addresses are trusted"
    assert env["LISTEN_PORT"] == "8080", "the patch adds to the base's environment"


def test_kubernetes_pod_runs_as_non_root_with_a_read_only_root() -> None:
    security = {**pod().get("securityContext", {}), **app_container()["securityContext"]}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_kubernetes_tmp_is_a_memory_emptydir_holding_the_runtime_dir() -> None:
    mounts = {m["mountPath"]: m["name"] for m in app_container()["volumeMounts"]}
    assert "/tmp" in mounts, "RUNTIME_DIR (/tmp/aiohttp-nginx) needs a writable /tmp"
    assert BY_NAME["RUNTIME_DIR"].default == "/tmp/aiohttp-nginx"
    volumes = {v["name"]: v for v in pod()["volumes"]}
    assert volumes[mounts["/tmp"]]["emptyDir"]["medium"] == "Memory"


def test_kubernetes_listen_port_is_unprivileged_and_matches_the_container_and_service_ports() -> None:
    container = app_container()
    listen = int(env_of(container)["LISTEN_PORT"])
    assert listen >= 1024, "a non-root nginx cannot bind below 1024"
    ports = container["ports"]
    assert [p["containerPort"] for p in ports] == [listen]
    names = {p.get("name"): p["containerPort"] for p in ports}
    targets = [p["targetPort"] for p in only("Service")["spec"]["ports"]]
    # a named targetPort refers to the container port of that name
    assert [names.get(t, t) for t in targets] == [listen]


def test_kubernetes_sets_a_cpu_limit_for_the_worker_count() -> None:
    container = app_container()
    assert "WEB_CONCURRENCY" not in env_of(container), "the example shows the worker count computed from limits.cpu"
    assert container["resources"]["limits"]["cpu"]


def test_compose_replicas_stop_in_time_behind_a_local_only_balancer() -> None:
    compose = yaml.safe_load((EXAMPLES / "compose" / "docker-compose.yml").read_text())
    app, balancer = compose["services"]["app"], compose["services"]["balancer"]
    env = {k: str(v) for k, v in app.get("environment", {}).items()}
    assert app["scale"] == 3
    assert "ports" not in app and "container_name" not in app, "replicas are reached through the balancer"
    grace = seconds(app["stop_grace_period"])
    assert int(env["STOP_TIMEOUT"]) == grace
    settings._check_stop_budget(int(env["SHUTDOWN_DELAY"]), graceful_timeout(env), int(env["STOP_TIMEOUT"]))
    assert app["healthcheck"]["test"] == ["CMD", *HEALTHCHECK]
    assert balancer["depends_on"]["app"]["condition"] == "service_healthy"
    assert all(str(p).startswith("127.0.0.1:") for p in balancer["ports"])
    conf = (EXAMPLES / "compose" / "balancer.conf").read_text()
    assert f"http://app:{env['LISTEN_PORT']}" in conf
    named = [v.split(":", 1)[0] for v in app["volumes"]]
    assert named and all(n in compose["volumes"] for n in named), "uploads go to a named volume"
