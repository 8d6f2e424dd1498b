"""Helpers shared by the host and image tests: polling with deadlines, real HTTP and websocket clients."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

import aiohttp

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    port: int,
    path: str = "/",
    method: str = "GET",
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    source: Optional[str] = None,
    timeout: float = 10.0,
) -> Tuple[int, bytes, Dict[str, str]]:
    """One HTTP request to 127.0.0.1:port; `source` picks the client's loopback address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def get_text(port: int, path: str = "/", **kwargs: Any) -> Tuple[int, str]:
    status, body, _ = request(port, path, **kwargs)
    return status, body.decode()


def get_json(port: int, path: str, **kwargs: Any) -> Any:
    status, body, _ = request(port, path, **kwargs)
    assert status == 200, (status, body)
    return json.loads(body)


def answers(port: int, path: str = "/") -> bool:
    try:
        return request(port, path, timeout=2)[0] == 200
    except OSError:
        return False


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
