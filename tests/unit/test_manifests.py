"""The deployment examples (examples/kubernetes, examples/compose) keep the settings the image needs to run well."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from aiohttp_nginx_base.settings import BY_NAME

yaml = pytest.importorskip("yaml")  # PyYAML, in the test extra

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEALTHCHECK = ["aiohttp-nginx", "healthcheck"]


def load_kubernetes() -> List[Dict[str, Any]]:
    files = sorted((EXAMPLES / "kubernetes").glob("*.yaml"))
    assert files, "examples/kubernetes has no manifests"
    return [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]


def only(kind: str) -> Dict[str, Any]:
    found = [doc for doc in load_kubernetes() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod() -> Dict[str, Any]:
    return dict(only("Deployment")["spec"]["template"]["spec"])


def app_container() -> Dict[str, Any]:
    containers = pod()["containers"]
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


def test_kubernetes_probes_run_the_healthcheck() -> None:
    container = app_container()
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == HEALTHCHECK, probe


def test_kubernetes_grace_period_outlasts_the_graceful_stop() -> None:
    spec = pod()
    container = app_container()
    grace = spec["terminationGracePeriodSeconds"]
    # a preStop pause runs before SIGTERM and counts against the same grace period
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
    assert grace > pause + graceful_timeout(env_of(container)), (grace, pause)


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


def test_compose_stops_after_the_graceful_timeout_with_a_healthcheck_and_local_ports() -> None:
    compose = yaml.safe_load((EXAMPLES / "compose" / "docker-compose.yml").read_text())
    service = compose["services"]["app"]
    env = {k: str(v) for k, v in service.get("environment", {}).items()}
    assert seconds(service["stop_grace_period"]) > graceful_timeout(env)
    assert service["healthcheck"]["test"] == ["CMD", *HEALTHCHECK]
    assert all(str(p).startswith("127.0.0.1:") for p in service["ports"])
    assert all(str(p).endswith(f":{env.get('LISTEN_PORT', '80')}") for p in service["ports"])
    named = [v.split(":", 1)[0] for v in service["volumes"]]
    assert named and all(n in compose["volumes"] for n in named), "uploads go to a named volume"
