"""Issue-4 promises on the real image: stop and reload under load lose nothing, a soak stays flat, nothing extra ships."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.image.helpers import docker, gunicorn_workers, inspect, logs, processes_rss_mib, tail
from tests.support import Outcome, answers, free_port, load, lost_requests, wait_until

pytestmark = pytest.mark.image
GRACEFUL = 5
ROOT = Path(__file__).resolve().parents[2]


def start_full(run_container, app_images: Dict[str, str], *env: str) -> Tuple[str, int]:
    """The full test app on the host's network: docker's userland proxy would accept (and then reset)
    connections that nginx itself refuses, hiding what a client really sees on stop."""
    port = free_port()
    options: List[str] = ["--network", "host", "-e", f"LISTEN_PORT={port}", "-e", f"GRACEFUL_TIMEOUT={GRACEFUL}"]
    for item in env:
        options += ["-e", item]
    container = run_container(app_images["full"], *options)
    wait_until(lambda: answers(port), 60, f"{container} to answer")
    return container, port


def in_container_file(container: str, path: str) -> bool:
    return docker("exec", container, "test", "-f", path, check=False, timeout=30).returncode == 0


@pytest.mark.parametrize("how", ["docker stop", "SIGINT"])
def test_stop_under_load_loses_no_accepted_request(run_container, app_images, how: str) -> None:
    container, port = start_full(run_container, app_images)
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(port, "/slow?s=0.3&mark=/tmp/busy", connections=64, seconds=8)))
    client.start()
    wait_until(lambda: in_container_file(container, "/tmp/busy"), 20, "the load to reach the app", interval=0.1)
    signalled = time.monotonic()
    if how == "docker stop":
        docker("stop", "-t", "30", container, timeout=60)
    else:
        docker("kill", "-s", "INT", container, timeout=30)
        docker("wait", container, timeout=60)
    stopped = time.monotonic()
    client.join(60)
    output = tail(logs(container))
    assert inspect(container, "{{.State.ExitCode}}") == "0", output
    assert stopped - signalled < GRACEFUL + 2, output
    assert [o for o in outcomes if o.started < signalled < o.ended and o.status == 200], "requests were in flight"
    assert lost_requests(outcomes) == [], output


def test_reload_under_load_fails_no_request(run_container, app_images) -> None:
    container, port = start_full(run_container, app_images, "WEB_CONCURRENCY=2")
    before = set(gunicorn_workers(container))
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(port, "/", connections=64, seconds=8)))
    client.start()
    try:
        result = docker("exec", container, "aiohttp-nginx", "reload", timeout=60, check=False)
        assert result.returncode == 0, result.stdout
        wait_until(lambda: len(gunicorn_workers(container)) == 2 and not set(gunicorn_workers(container)) & before, 30, "fresh workers")
    finally:
        client.join(60)
    assert len(outcomes) > 1000
    assert [o for o in outcomes if o.error or o.status != 200] == [], tail(logs(container))


SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "120"))
SOAK_WARMUP = 60  # buffers and caches settle in the first minute; growth is measured after it


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.timeout(SOAK_SECONDS + 180)
def test_soak_at_64_connections_has_no_errors_and_flat_memory(run_container, app_images) -> None:
    """SOAK_SECONDS (default 120) of wrk at 64 connections; the processes' memory from the first minute to the end
    grows < 5 %."""
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.fail("wrk is not installed (apt-get install wrk)")
    seconds = SOAK_SECONDS
    container, port = start_full(run_container, app_images, "WEB_CONCURRENCY=2", "ACCESS_LOG=off")
    run = subprocess.Popen(
        [wrk, "-t2", "-c64", f"-d{seconds}s", "--timeout", "5s", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    warm = time.monotonic() + min(SOAK_WARMUP, seconds / 2)
    wait_until(lambda: time.monotonic() > warm, seconds, "the first minute of the soak")
    first = processes_rss_mib(container)
    report, _ = run.communicate(timeout=seconds + 60)
    last = processes_rss_mib(container)
    print(f"\nsoak {seconds} s: memory {first:.1f} MiB after the first minute, {last:.1f} MiB at the end\n{report}")
    assert run.returncode == 0, report
    assert "Non-2xx" not in report and "Socket errors" not in report, report
    assert int(re.search(r"(\d+) requests in", report)[1]) > 1000, report  # type: ignore[index]
    assert last < first * 1.05, f"memory {first:.1f} MiB -> {last:.1f} MiB\n{report}"


def test_the_image_carries_no_build_time_ca_bundle_or_pip_settings(image: str) -> None:
    """Only a local stand-in base carries the proxy's CA bundle; nothing this project adds may."""
    template = (ROOT / "docker-images" / "Dockerfile.template").read_text()
    assert not re.search(r"(?i)\bcert|\.pem|\.crt|secret|token|PIP_INDEX|PIP_CERT", template)
    base = inspect(image, '{{index .Config.Labels "org.opencontainers.image.base.name"}}')
    ours = set(json.loads(inspect(image, "{{json .Config.Env}}"))) - set(json.loads(inspect(base, "{{json .Config.Env}}")))
    assert not [e for e in ours if re.search(r"(?i)cert|secret|token|password|pip_", e)], ours
