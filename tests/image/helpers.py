"""Docker helpers of the image and examples tests: build this checkout's image, read a container's state and processes.

Running docker and reading logs and exit codes is the test kit's (pytest_aiohttp_nginx.docker), re-exported here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from pytest_aiohttp_nginx.docker import docker as docker
from pytest_aiohttp_nginx.docker import exit_code as exit_code
from pytest_aiohttp_nginx.docker import inspect as inspect
from pytest_aiohttp_nginx.docker import logs as logs
from pytest_aiohttp_nginx.docker import tail as tail

from tests.support import get_text, wait_until

ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPO = os.environ.get("IMAGE", "aiohttp-nginx")  # the checkout's image; test-app images are named after it too
TAGS: List[str] = os.environ.get("IMAGE_TAGS", "").split() or ["python3.13"]
LABEL = "aiohttp-nginx-tests"
SESSION = f"{os.getpid()}-{int(time.time())}"  # label value of every container this session starts

# Prints every process of the container as [pid, ppid, cmdline]: slim images have no ps.
PS_SCRIPT = r"""
import json, os
procs = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        with open("/proc/%s/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        continue
    procs.append([int(pid), ppid, cmd])
print(json.dumps(procs))
"""

# Prints the TCP ports something listens on inside the container (IPv4 and IPv6). Skipped: 127.0.0.11, where
# dockerd's embedded DNS listens inside every container of a user-defined network (compose's), not the image.
LISTENERS_SCRIPT = r"""
import json
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        fields = row.split()
        if fields[3] == "0A" and not fields[1].startswith("0B00007F:"):
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
print(json.dumps(sorted(ports)))
"""


def base_image_of(tag: str) -> str:
    """The base scripts/build.sh builds FROM: BASE_IMAGE if set, else the Dockerfile's default."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "docker-images" / f"{tag}.dockerfile").read_text(), re.M)
    assert match, f"docker-images/{tag}.dockerfile has no `ARG BASE_IMAGE=` default"
    return match[1]


def build_checkout_image(tag: str) -> str:
    """`scripts/build.sh TAG`: the image of this checkout, `$IMAGE:TAG` (docker's cache makes a rebuild quick)."""
    if not (ROOT / "docker-images" / f"{tag}.dockerfile").is_file():
        pytest.fail(f"IMAGE_TAGS names {tag!r} but there is no docker-images/{tag}.dockerfile", pytrace=False)
    if os.environ.get("USE_BUILT_IMAGE") == "1":
        # the publish workflow tests the image it built once (and then pushes), not a rebuild
        if docker("image", "inspect", f"{IMAGE_REPO}:{tag}", timeout=30, check=False).returncode != 0:
            pytest.fail(f"USE_BUILT_IMAGE=1 but there is no {IMAGE_REPO}:{tag}", pytrace=False)
        return f"{IMAGE_REPO}:{tag}"
    base = base_image_of(tag)
    if docker("image", "inspect", base, timeout=30, check=False).returncode != 0:
        version = re.search(r"\d+\.\d+", tag)
        pytest.fail(f"base image {base} is missing: run scripts/local-base.sh {version[0] if version else 'X.Y'}", pytrace=False)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(ROOT / "scripts" / "build.sh"), tag], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/build.sh {tag} took more than 30 minutes", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"scripts/build.sh {tag} exited with {result.returncode}:\n{tail(result.stdout)}", pytrace=False)
    print(f"\nbuilt {IMAGE_REPO}:{tag} in {time.monotonic() - started:.0f} s")
    return f"{IMAGE_REPO}:{tag}"


def docker_time(stamp: str) -> datetime:
    """Docker's RFC 3339 timestamps carry nanoseconds: keep microseconds."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", stamp)
    assert match, stamp
    return datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(
        microsecond=int((match[2] or "0")[:6].ljust(6, "0")), tzinfo=timezone.utc,
    )


def run_seconds(container: str) -> float:
    """How long the (exited) container's process ran."""
    started, finished = inspect(container, "{{.State.StartedAt}} {{.State.FinishedAt}}").split()
    return (docker_time(finished) - docker_time(started)).total_seconds()


def processes(container: str) -> List[List[Any]]:
    return list(json.loads(docker("exec", container, "python", "-c", PS_SCRIPT, timeout=30).stdout))


def nginx_workers(container: str) -> List[int]:
    return [pid for pid, _, cmd in processes(container) if cmd.startswith("nginx: worker process")]


def gunicorn_workers(container: str) -> List[int]:
    """gunicorn processes whose parent is gunicorn (its master), with or without setproctitle."""
    procs = processes(container)
    gunicorn = {pid for pid, _, cmd in procs if " -m gunicorn " in f" {cmd} " or cmd.startswith("gunicorn")}
    return sorted(pid for pid, ppid, _ in procs if pid in gunicorn and ppid in gunicorn)


def listening_ports(container: str) -> List[int]:
    return list(json.loads(docker("exec", container, "python", "-c", LISTENERS_SCRIPT, timeout=30).stdout))


def memory_mib(container: str) -> float:
    """The container's memory as `docker stats` reports it (page cache excluded), in MiB."""
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container, timeout=60).stdout.split("/")[0].strip()
    match = re.fullmatch(r"([\d.]+)\s*([KMG]i?B)", usage)
    assert match, usage
    return float(match[1]) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "kB": 1 / 1024, "MB": 1, "GB": 1024}[match[2]]


def processes_rss_mib(container: str) -> float:
    """The resident memory of the container's processes, summed, in MiB: what a leak grows. The cgroup's
    total (`docker stats`) also counts kernel memory such as socket buffers, which comes and goes with
    the traffic (a soak saw 95 -> 110 -> 95 MiB within one minute while every process stayed flat)."""
    lines = docker("top", container, "-o", "pid,rss", timeout=60).stdout.splitlines()[1:]  # docker needs the pid
    return sum(int(line.split()[1]) for line in lines if line.strip()) / 1024


def stop_with_a_request_in_flight(container: str, port: int) -> Tuple[Dict[str, object], float, str]:
    """`docker stop` while a 2-second request is inside the app: (what the request got, seconds the stop took, logs)."""
    results: Dict[str, object] = {}

    def slow() -> None:
        try:
            results["slow"] = get_text(port, "/slow?s=2&mark=/tmp/inflight", timeout=20)
        except OSError as exc:
            results["slow"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        wait_until(lambda: docker("exec", container, "test", "-f", "/tmp/inflight", check=False).returncode == 0, 10,
                   "the slow request to reach the app", interval=0.1)
        started = time.monotonic()
        docker("stop", container, timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        thread.join(25)
    return results, stopped_in, tail(logs(container))
