"""The `docker` command: the one way the harness runs it, and what it reads from containers and images."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Dict, Optional

LOG_LINES = 200  # of a container's logs in an error message or a failed test's report


class ContainerError(AssertionError):
    """docker failed, an image did not build or a container did not come up: the message carries docker's output."""


def docker(*args: str, timeout: float = 60, input: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`docker ARGS` with stdout and stderr captured together as text; raises ContainerError with them when `check`."""
    try:
        result = subprocess.run(
            ["docker", *args], input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"`docker {' '.join(args)}` took more than {timeout:g} s") from exc
    if check and result.returncode != 0:
        raise ContainerError(f"`docker {' '.join(args)}` exited with {result.returncode}:\n{result.stdout}")
    return result


def tail(text: str, lines: int = LOG_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def engine_answers() -> bool:
    """Whether a Docker engine answers `docker info`."""
    if not shutil.which("docker"):
        return False
    try:
        return docker("info", timeout=30, check=False).returncode == 0
    except ContainerError:
        return False


def logs(container: str) -> str:
    """Everything the container wrote, stdout and stderr interleaved as docker recorded them."""
    return docker("logs", container, timeout=30, check=False).stdout


def inspect(container: str, template: str) -> str:
    """`docker inspect -f TEMPLATE`, stripped."""
    return docker("inspect", "-f", template, container, timeout=30).stdout.strip()


def exit_code(container: str) -> Optional[int]:
    """The container's exit status, or None while it runs."""
    running, code = inspect(container, "{{.State.Running}} {{.State.ExitCode}}").split()
    return None if running == "true" else int(code)


def image_env(image: str) -> Dict[str, str]:
    """The ENV of an image (its defaults: LISTEN_PORT, HEALTHCHECK_PATH, ...)."""
    out = docker("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout.strip().splitlines()
    raw = json.loads(out[-1] if out else "null") or []  # the last line: a CLI warning may come first
    return dict(item.split("=", 1) for item in raw if "=" in item)
