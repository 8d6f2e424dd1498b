"""Issue 24: on stop, every open websocket gets the app's close frame (1001), whichever gunicorn worker and whichever
nginx worker holds it - not one in three cut (1006).

Each round starts a container with two gunicorn workers and two nginx workers (the defaults on two CPUs, pinned here so
that a bigger machine tests the same spread), opens websockets through the published port (docker's proxy, as a user's
client goes) until every gunicorn worker and every nginx worker holds at least one, then `docker kill --signal TERM`.
Rounds alternate between a client that reads its sockets one after another (a late close reply) and one that reads
them all at once. Every client must see the app's own close code within the stop budget, and the stack must exit 0.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Dict, List, Set, Tuple

import aiohttp
import pytest

from tests.image.conftest import build_app_image
from tests.image.helpers import docker, gunicorn_workers, logs, nginx_workers, tail
from tests.support import wait_until

pytestmark = pytest.mark.image

ROUNDS = 3  # a one-in-three race passes three rounds of this spread with a chance of (2/3)^(3*sockets), nil
MAX_SOCKETS = 24  # reuseport spreads connections by hash: the workers are all reached long before this
GRACEFUL = 8  # the default GRACEFUL_TIMEOUT; the stop budget is STOP_TIMEOUT's default, 10 s
BUDGET = 10.0

# how many sockets each given pid holds open, from /proc (slim images have no ss)
SOCKETS_SCRIPT = r"""
import json, os, sys
counts = {}
for pid in sys.argv[1:]:
    n = 0
    for fd in os.listdir("/proc/%s/fd" % pid):
        try:
            n += os.readlink("/proc/%s/fd/%s" % (pid, fd)).startswith("socket:")
        except FileNotFoundError:  # closed meanwhile
            pass
    counts[pid] = n
print(json.dumps(counts))
"""


def sockets_held(container: str, pids: List[int]) -> Dict[int, int]:
    """Read as each process's own user: a container has no CAP_SYS_PTRACE to read another user's /proc/PID/fd."""
    held: Dict[int, int] = {}
    for pid in pids:
        uid = docker("exec", container, "stat", "-c", "%u", f"/proc/{pid}", timeout=30).stdout.strip()
        out = docker("exec", "--user", uid, container, "python", "-c", SOCKETS_SCRIPT, str(pid), timeout=30).stdout
        held.update((int(key), n) for key, n in json.loads(out).items())
    return held


Close = Tuple[str, int, str]  # (the gunicorn worker that held it, close code or 1006, reason)


async def open_spread(url: str, session: aiohttp.ClientSession, container: str) -> Tuple[List[aiohttp.ClientWebSocketResponse], List[str]]:
    """Websockets until each gunicorn worker (each socket's greeting names its pid) and each nginx worker (its
    socket count grows) holds at least one."""
    workers = {str(pid) for pid in gunicorn_workers(container)}
    nginx = nginx_workers(container)
    assert len(workers) == 2 and len(nginx) == 2, (workers, nginx)
    before = sockets_held(container, nginx)
    socks: List[aiohttp.ClientWebSocketResponse] = []
    pids: List[str] = []
    seen: Set[str] = set()
    while len(socks) < MAX_SOCKETS:
        sock = await session.ws_connect(url)
        greeting = await sock.receive(timeout=10)
        assert greeting.type == aiohttp.WSMsgType.TEXT, greeting
        socks.append(sock)
        pids.append(str(greeting.data))
        seen.add(str(greeting.data))
        if len(socks) >= 3 and seen == workers:
            now = sockets_held(container, nginx)
            if all(now[pid] > before[pid] for pid in nginx):
                return socks, pids
    after = sockets_held(container, nginx)
    reached = f"gunicorn {sorted(seen)} of {sorted(workers)}; sockets per nginx worker {before} -> {after}"
    raise AssertionError(f"{MAX_SOCKETS} websockets did not reach every worker: {reached}")


async def closes_after_term(url: str, container: str, one_by_one: bool) -> Tuple[List[Close], float]:
    async with aiohttp.ClientSession() as session:
        socks, pids = await open_spread(url, session, container)
        signalled = time.monotonic()
        docker("kill", "--signal", "TERM", container, timeout=30)

        async def close_of(sock: aiohttp.ClientWebSocketResponse, pid: str) -> Close:
            msg = await sock.receive(timeout=BUDGET + 5)
            while msg.type == aiohttp.WSMsgType.TEXT:
                msg = await sock.receive(timeout=BUDGET + 5)
            # the close frame as it arrived; a cut connection is CLOSED or ERROR (code 1006)
            return (pid, int(msg.data), str(msg.extra or "")) if msg.type == aiohttp.WSMsgType.CLOSE else (pid, 1006, msg.type.name)

        if one_by_one:
            closes = [await close_of(sock, pid) for sock, pid in zip(socks, pids)]
        else:
            closes = list(await asyncio.gather(*(close_of(sock, pid) for sock, pid in zip(socks, pids))))
        return closes, time.monotonic() - signalled


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_on_stop_every_websocket_on_every_worker_gets_the_apps_1001(run_container, image: str, tag: str, round_: int) -> None:
    app_image = build_app_image(image, tag, "wsstop")
    env = ["-e", "WEB_CONCURRENCY=2", "-e", "NGINX_WORKER_PROCESSES=2", "-e", f"GRACEFUL_TIMEOUT={GRACEFUL}"]
    container = run_container(app_image, "-p", "127.0.0.1::80", *env)
    port = int(docker("port", container, "80/tcp", timeout=30).stdout.split(":")[-1])

    def serving() -> bool:
        healthy = docker("exec", container, "aiohttp-nginx", "healthcheck", timeout=30, check=False).returncode == 0
        return healthy and len(gunicorn_workers(container)) == 2

    wait_until(serving, 60, f"{container}: both gunicorn workers and the healthcheck")
    closes, took = asyncio.run(closes_after_term(f"http://127.0.0.1:{port}/ws", container, one_by_one=round_ % 2 == 0))
    cut = [close for close in closes if close[1:] != (1001, "server shutdown")]
    assert not cut, f"{len(cut)} of {len(closes)} websockets without the app's close: {cut}\n{tail(logs(container))}"
    assert took < BUDGET, f"the close frames came {took:.1f} s after SIGTERM"
    status = docker("wait", container, timeout=30).stdout.strip()
    assert status == "0", tail(logs(container))
