"""The readiness loop: poll a port until it answers, with a deadline, noticing a container that exited meanwhile."""

from __future__ import annotations

import http.client
import time
from typing import Callable, Optional

from pytest_aiohttp_nginx.client import request
from pytest_aiohttp_nginx.docker import ContainerError, exit_code, logs, tail

Accept = Callable[[int, bytes], bool]

LIVENESS_EVERY_S = 0.5  # how often `docker inspect` runs between probes: often enough, without taking a core from the start


def below_500(status: int, body: bytes) -> bool:
    """What `aiohttp-nginx healthcheck` accepts: nginx and the app answered, even with 404."""
    return status < 500


def wait_ready(
    port: int,
    *,
    timeout: float,
    path: str = "/",
    accept: Accept = below_500,
    container: Optional[str] = None,
    started: Optional[float] = None,
    interval: float = 0.05,
) -> float:
    """Poll GET `path` on 127.0.0.1:`port` until `accept(status, body)`; the seconds since `started` (default: now).

    Raises ContainerError, with the container's logs, past the deadline or as soon as `container` has exited.
    """
    started = time.monotonic() if started is None else started
    deadline = started + timeout
    last, alive_checked = "no attempt", 0.0
    while True:
        try:
            status, body, _ = request(port, path, timeout=max(0.05, min(2.0, deadline - time.monotonic())))
            if accept(status, body):
                return time.monotonic() - started
            last = f"GET {path} answered {status} {body[:80]!r}"
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        now = time.monotonic()
        if container and now - alive_checked >= LIVENESS_EVERY_S:
            alive_checked = now
            code = exit_code(container)
            if code is not None:
                raise ContainerError(f"container {container} exited with {code} instead of serving; its logs:\n{tail(logs(container))}")
        if now > deadline:
            where = f"container {container}" if container else f"port {port}"
            its_logs = f"; its logs:\n{tail(logs(container))}" if container else ""
            raise ContainerError(f"{where} did not answer within {timeout:g} s (last: {last}){its_logs}")
        time.sleep(interval)  # poll interval, not synchronisation: the loop has the deadline
