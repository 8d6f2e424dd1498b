"""Helpers shared by the host and image tests: polling with deadlines, real HTTP and websocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, TypeVar

import aiohttp

# the one HTTP probe is the test kit's; the tests import it from here
from pytest_aiohttp_nginx.client import answers as answers
from pytest_aiohttp_nginx.client import request as request

APPS = Path(__file__).parent / "apps"
T = TypeVar("T")


def wait_until(check: Callable[[], Optional[T]], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last_error!r})")


def pid_alive(pid: int) -> bool:
    """A process with this pid exists (a zombie counts until its parent reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_text(port: int, path: str = "/", **kwargs: Any) -> Tuple[int, str]:
    status, body, _ = request(port, path, **kwargs)
    return status, body.decode()


def get_json(port: int, path: str, **kwargs: Any) -> Any:
    status, body, _ = request(port, path, **kwargs)
    assert status == 200, (status, body)
    return json.loads(body)


def websocket_echo(port: int, message: str, idle: float = 0.0) -> str:
    """Connect through nginx, optionally stay idle, then send one message and return the reply."""

    async def talk() -> str:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                if idle:
                    await asyncio.sleep(idle)
                await ws.send_str(message)
                reply = await ws.receive(timeout=10)
                return str(reply.data)

    return asyncio.run(talk())


class Outcome:
    """One request of a load run: when it started and ended, and how it ended."""

    __slots__ = ("started", "ended", "status", "error")

    def __init__(self, started: float, ended: float, status: int, error: str) -> None:
        self.started, self.ended, self.status, self.error = started, ended, status, error

    def __repr__(self) -> str:
        return f"Outcome(status={self.status}, error={self.error!r}, {self.started:.3f}-{self.ended:.3f})"


# Errors that mean the server never took the request: a refused connection once
# nginx stopped listening, or a keep-alive connection it closed while idle.
NOT_ACCEPTED = ("ClientConnectorError", "ServerDisconnectedError")


def load(port: int, path: str, connections: int, seconds: float, max_requests: int = 200000) -> List[Outcome]:
    """`connections` keep-alive clients requesting `path` for `seconds` (bounded by max_requests)."""

    async def run() -> List[Outcome]:
        outcomes: List[Outcome] = []
        deadline = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(limit=connections)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def client() -> None:
                while time.monotonic() < deadline and len(outcomes) < max_requests:
                    started = time.monotonic()
                    try:
                        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                            await response.read()
                            outcomes.append(Outcome(started, time.monotonic(), response.status, ""))
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                        outcomes.append(Outcome(started, time.monotonic(), 0, type(exc).__name__))
                        await asyncio.sleep(0.01)  # back off after an error: not synchronisation

            await asyncio.gather(*(client() for _ in range(connections)))
        return outcomes

    return asyncio.run(run())


def lost_requests(outcomes: List[Outcome]) -> List[Outcome]:
    """Requests the server accepted but did not answer with 200."""
    return [o for o in outcomes if (o.error and o.error not in NOT_ACCEPTED) or (not o.error and o.status != 200)]


# What counts as an error line in the stack's output: gunicorn's [ERROR]/[CRITICAL], nginx's [error] and worse,
# supervisord's ERRO/CRIT, a Python traceback, or an errno.
_ERROR_LINE = re.compile(
    r"\[(ERROR|CRITICAL)\]|\[(error|crit|alert|emerg)\]|\b(ERRO|CRIT)\b|Traceback \(most recent call last\)|\[Errno \d+\]"
)


def error_lines(output: str) -> List[str]:
    """The lines of a log that an operator would read as an error."""
    return [line for line in output.splitlines() if _ERROR_LINE.search(line)]
