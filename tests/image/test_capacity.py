"""Issue 13: aiohttp-scale concurrency on defaults, overload that degrades, timeouts that fit the app.

Capacity tests run the container on the host's network with a LISTEN_PORT of their own: Docker's userland proxy
would hold two descriptors per published connection and hit its own open-file limit first. The client raises its
own RLIMIT_NOFILE. Every run is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Callable, Dict, List, Tuple

import aiohttp
import pytest

from tests.image.helpers import docker, logs, memory_mib, tail
from tests.support import answers, error_lines, free_port, request, wait_until

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_on_host_network(run_container, image: str, *env: str, cpus: str = "2") -> Tuple[str, int]:
    port = free_port()
    options: List[str] = ["--network", "host", "--cpus", cpus, "-e", f"LISTEN_PORT={port}"]
    for item in env:
        options += ["-e", item]
    container = run_container(image, *options)
    wait_until(lambda: answers(port), 60, f"{container} to answer")
    return container, port


def assert_quiet(container: str) -> None:
    output = logs(container)
    assert error_lines(output) == [], tail("\n".join(error_lines(output)))


# --- 1. capacity from the container: defaults, 2 CPUs


async def hold_websockets(port: int, count: int, seconds: float, while_held: Callable[[], None] = lambda: None) -> Dict[str, object]:
    """Open `count` websockets (all held at once), call `while_held`, then each echoes one message; errors by kind."""
    errors: Dict[str, int] = {}
    held: List[aiohttp.ClientWebSocketResponse] = []
    opening = asyncio.Semaphore(256)  # handshakes in flight at once; all stay open once made
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def open_one() -> None:
            async with opening:
                try:
                    held.append(await session.ws_connect(f"http://127.0.0.1:{port}/ws", autoping=False,
                                                         timeout=aiohttp.ClientWSTimeout(ws_close=5)))
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(count))), max(1, deadline - time.monotonic()))
        opened = len(held)
        await asyncio.get_running_loop().run_in_executor(None, while_held)

        async def echo(index: int, ws: aiohttp.ClientWebSocketResponse) -> bool:
            try:
                await ws.send_str(f"m{index}")
                reply = await ws.receive(timeout=60)
                return reply.type == aiohttp.WSMsgType.TEXT and reply.data == f"echo: m{index}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                return False

        echoed = await asyncio.wait_for(
            asyncio.gather(*(echo(i, ws) for i, ws in enumerate(held))), max(1, deadline - time.monotonic())
        )
        for ws in held:
            await ws.close()
    return {"opened": opened, "echoed": sum(echoed), "errors": errors}


@pytest.mark.slow
@pytest.mark.heavy
def test_10000_websockets_each_echo_on_defaults_with_2_cpus(run_container, app_images) -> None:
    assert raise_open_file_limit() > 11000, "the client needs an open-file limit above 11,000"
    container, port = start_on_host_network(run_container, app_images["full"])
    idle = memory_mib(container)
    held: List[float] = []
    result = asyncio.run(hold_websockets(port, 10000, seconds=300, while_held=lambda: held.append(memory_mib(container))))
    assert result == {"opened": 10000, "echoed": 10000, "errors": {}}, f"{result}\n{tail(logs(container))}"
    assert_quiet(container)
    # the figure the README documents (docker stats, page cache excluded)
    print(f"\nmemory: {idle:.1f} MiB idle, {held[0]:.1f} MiB holding 10,000 websockets: "
          f"{(held[0] - idle) / 10:.1f} MiB per 1,000 idle websockets")


async def concurrent_requests(port: int, path: str, count: int, seconds: float) -> Dict[object, int]:
    """`count` requests started together, each on its own connection; how each ended."""
    outcome: Dict[object, int] = {}
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=seconds)) as session:

        async def one() -> None:
            try:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    await response.read()
                    key: object = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                key = type(exc).__name__
            outcome[key] = outcome.get(key, 0) + 1

        await asyncio.gather(*(one() for _ in range(count)))
    return outcome


@pytest.mark.slow
@pytest.mark.heavy
def test_5000_concurrent_3_second_requests_all_succeed_on_defaults_with_2_cpus(run_container, app_images) -> None:
    assert raise_open_file_limit() > 6000
    container, port = start_on_host_network(run_container, app_images["full"])
    outcome = asyncio.run(concurrent_requests(port, "/slow?s=3", 5000, seconds=120))
    assert outcome == {200: 5000}, f"{outcome}\n{tail(logs(container))}"
    assert_quiet(container)


# --- 3. timeouts that fit the app


def test_a_request_longer_than_nginx_proxy_timeout_gets_504_even_with_an_upgrade_header(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "NGINX_PROXY_TIMEOUT=2")
    started = time.monotonic()
    assert request(port, "/slow?s=4")[0] == 504
    # any Upgrade header used to pick the websocket location and its hour-long timeouts
    tricks = ({"Upgrade": "websocket"}, {"Upgrade": "h2c", "Connection": "Upgrade"}, {"Upgrade": "websocket", "Connection": "keep-alive"})
    for headers in tricks:
        assert request(port, "/slow?s=4", headers=headers)[0] == 504, headers
    assert time.monotonic() - started < 4 * 3.5


@pytest.mark.slow
def test_a_65_second_request_succeeds_with_the_default_timeout(run_container, app_images) -> None:
    """nginx's own 60 s read timeout used to answer 504 although TIMEOUT is 120."""
    container, port = start_on_host_network(run_container, app_images["full"])
    assert request(port, "/slow?s=65", timeout=90)[:2] == (200, b"slow done")


def test_a_real_websocket_handshake_outlives_nginx_proxy_timeout(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "NGINX_PROXY_TIMEOUT=1")

    async def talk() -> str:
        async with aiohttp.ClientSession() as session:
            # mixed case and a list in Connection, as browsers and proxies send them
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws", headers={"Connection": "keep-alive, Upgrade"}) as ws:
                await asyncio.sleep(2.5)  # idle past NGINX_PROXY_TIMEOUT: the websocket's timeout applies
                await ws.send_str("late")
                return str((await ws.receive(timeout=10)).data)

    assert asyncio.run(talk()) == "echo: late"


async def first_piece_after(port: int, path: str) -> Tuple[float, bytes]:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
            piece = await response.content.readany()
            return time.monotonic() - started, piece


@pytest.mark.parametrize("path", ["/sse?gap=3", "/sse?gap=3&no-buffering", "/chunked?gap=3"])
def test_streamed_responses_arrive_as_written(run_container, app_images, path: str) -> None:
    container, port = start_on_host_network(run_container, app_images["full"])
    elapsed, piece = asyncio.run(first_piece_after(port, path))
    assert piece in (b"data: first\n\n", b"piece\n")
    assert elapsed < 2, f"the first piece took {elapsed:.1f} s: nginx held it back"


# --- 5. quiet logs


def test_docker_stop_after_serving_logs_no_error_line(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "WEB_CONCURRENCY=2")
    for _ in range(20):
        assert request(port, "/")[0] == 200
    docker("stop", "-t", "30", container, timeout=60)
    assert "Worker exiting" in logs(container)
    assert_quiet(container)
