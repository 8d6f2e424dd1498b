"""Docker helpers of the image tests: run docker, read a container's state, logs and processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import datetime, timezone
from typing import Any, List, Optional

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


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """`docker ARGS`, output captured as text; raises with the output on failure when `check`."""
    result = subprocess.run(
        ["docker", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"`docker {' '.join(args)}` exited with {result.returncode}:\n{result.stdout}")
    return result


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def logs(container: str) -> str:
    """stdout and stderr of a container, interleaved as docker recorded them."""
    return docker("logs", container, timeout=30, check=False).stdout


def inspect(container: str, template: str) -> str:
    return docker("inspect", "-f", template, container, timeout=30).stdout.strip()


def exit_code(container: str) -> Optional[int]:
    """The container's exit status, or None while it runs."""
    running, code = inspect(container, "{{.State.Running}} {{.State.ExitCode}}").split()
    return None if running == "true" else int(code)


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
