"""Issue 14 on a real host-mode stack: probes, SHUTDOWN_DELAY's drain, and websockets closed by the app on stop."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator, List, Tuple

import aiohttp
import pytest

from tests.support import get_text, wait_until

COMMAND = str(Path(sys.executable).with_name("aiohttp-nginx"))
LIVE, READY = "/_aiohttp-nginx/livez", "/_aiohttp-nginx/readyz"


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A RUNTIME_DIR the test can read; right under /tmp, which nginx's unprivileged workers can pass through."""
    path = Path(tempfile.gettempdir()) / f"aiohttp-nginx-drain-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def status(port: int, path: str, host: str = "") -> int:
    try:
        return get_text(port, path, headers={"Host": host} if host else {})[0]
    except OSError:
        return 0


def test_probes_answer_unlogged_and_the_reserved_prefix_never_reaches_the_app(host_stack) -> None:
    stack = host_stack()
    assert get_text(stack.port, LIVE) == (200, "alive\n")
    assert get_text(stack.port, READY) == (200, "ready\n")  # answered by a gunicorn worker
    assert status(stack.port, READY, host="not-this-site.example") == 200
    assert status(stack.port, "/_aiohttp-nginx/anything") == 404
    get_text(stack.port, "/?logged")
    wait_until(lambda: "GET /?logged" in stack.output, 10, "the access log line of a normal request")
    # only the probes' exact paths go unlogged (issue 20): the rest of the reserved prefix is an ordinary 404
    wait_until(lambda: "GET /_aiohttp-nginx/anything" in stack.output, 10, "the access log line of the 404")
    assert LIVE not in stack.output and READY not in stack.output


def test_sigterm_reports_not_ready_but_serves_for_shutdown_delay_then_stops(host_stack, runtime_dir: Path) -> None:
    # the delay covers a readiness poll, two requests and a healthcheck process on a loaded machine
    delay = 6
    runtime = runtime_dir
    env = {"SHUTDOWN_DELAY": str(delay), "GRACEFUL_TIMEOUT": "2", "STOP_TIMEOUT": "10", "RUNTIME_DIR": str(runtime)}
    stack = host_stack(env=env)
    healthcheck = [COMMAND, "healthcheck"]
    assert subprocess.run(healthcheck, env=stack.env, capture_output=True, timeout=30).returncode == 0
    signalled = time.monotonic()
    stack.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: status(stack.port, READY) == 503, 5, "readiness to answer 503")
    # draining: the app still answers, liveness too; only readiness and the healthcheck say no
    assert status(stack.port, "/") == 200
    assert status(stack.port, LIVE) == 200
    result = subprocess.run(healthcheck, env=stack.env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "draining" in result.stderr, result
    assert time.monotonic() - signalled < delay, "all of that happened within the delay"
    assert stack.proc.wait(delay + 2 + 2 + 5) == 0, stack.output[-2000:]
    assert time.monotonic() - signalled >= delay, "the stack served for SHUTDOWN_DELAY"


def test_a_second_sigterm_ends_the_delay(host_stack) -> None:
    stack = host_stack(env={"SHUTDOWN_DELAY": "30", "GRACEFUL_TIMEOUT": "2", "STOP_TIMEOUT": "40"})
    stack.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: status(stack.port, READY) == 503, 5, "readiness to answer 503")
    signalled = time.monotonic()
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(15) == 0, stack.output[-2000:]
    assert time.monotonic() - signalled < 10


def test_on_stop_websocket_clients_get_the_apps_1001_close_not_1006(host_stack) -> None:
    stack = host_stack(env={"GRACEFUL_TIMEOUT": "5"})

    async def clients() -> List[Tuple[int, str]]:
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(f"http://127.0.0.1:{stack.port}/ws") for _ in range(3)]
            for sock in sockets:  # each is in the app's room before the stop
                await sock.send_str("hi")
                assert (await sock.receive(timeout=10)).data == "echo: hi"
            stack.proc.send_signal(signal.SIGTERM)
            closes = []
            for sock in sockets:
                msg = await sock.receive(timeout=15)
                # the close frame as it arrived (a cut connection would be CLOSED/ERROR, code 1006)
                closes.append((int(msg.data) if msg.type == aiohttp.WSMsgType.CLOSE else 1006, str(msg.extra or "")))
            return closes

    closes = asyncio.run(clients())
    assert closes == [(1001, "server shutdown")] * 3, stack.output[-2000:]
    assert stack.proc.wait(15) == 0


def children(pid: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def test_readiness_fails_while_no_gunicorn_worker_can_answer(host_stack, runtime_dir: Path) -> None:
    runtime = runtime_dir
    stack = host_stack(env={"RUNTIME_DIR": str(runtime), "WEB_CONCURRENCY": "2"})
    master = int((runtime / "run" / "gunicorn.pid").read_text())
    # the stack answers once one worker serves; the second may still be booting
    workers = wait_until(lambda: _exactly(2, children(master)), 30, "both gunicorn workers")
    for pid in workers:  # alive to gunicorn (it does not check a stopped worker for seconds), but serving nothing
        os.kill(pid, signal.SIGSTOP)
    try:
        assert status(stack.port, LIVE) == 200, "nginx itself is alive"
        assert status(stack.port, READY) == 504, "no worker answered within the probe's 3 s"
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    wait_until(lambda: status(stack.port, READY) == 200, 10, "readiness once the workers run again")


def _exactly(count: int, found: List[int]) -> List[int]:
    return found if len(found) == count else []


def test_probes_answer_whatever_allowed_hosts_says(host_stack) -> None:
    stack = host_stack(env={"ALLOWED_HOSTS": "app.example.com"}, ready=False)
    wait_until(lambda: status(stack.port, READY, host="kubelet.internal") == 200, 30, "readiness with a foreign Host")
    assert status(stack.port, LIVE, host="kubelet.internal") == 200
    assert status(stack.port, "/", host="kubelet.internal") == 421, "everything else still checks the Host"
    assert status(stack.port, "/", host="app.example.com") == 200
