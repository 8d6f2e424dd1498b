"""Issue 13: aiohttp-scale concurrency on defaults, overload that degrades, timeouts that fit the app.

Capacity tests run the container on the host's network with a LISTEN_PORT of their own: Docker's userland proxy
would hold two descriptors per published connection and hit its own open-file limit first. The client raises its
own RLIMIT_NOFILE. Every run is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from typing import Callable, Dict, List, Tuple

import aiohttp
import pytest

from tests.image.helpers import docker, gunicorn_workers, logs, memory_mib, tail
from tests.support import Outcome, answers, error_lines, free_port, load, request, wait_until

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_on_host_network(run_container, image: str, *env: str, cpus: str = "2", memory: str = "") -> Tuple[str, int]:
    port = free_port()
    options: List[str] = ["--network", "host", "--cpus", cpus, "-e", f"LISTEN_PORT={port}"]
    if memory:
        options += ["--memory", memory, "--memory-swap", memory]
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


# --- 2. overload degrades; it never drops what is established


class Answer:
    __slots__ = ("status", "retry_after", "seconds", "error")

    def __init__(self, status: int, retry_after: str, seconds: float, error: str = "") -> None:
        self.status, self.retry_after, self.seconds, self.error = status, retry_after, seconds, error

    def __repr__(self) -> str:
        return f"Answer({self.status}, retry_after={self.retry_after!r}, {self.seconds:.2f} s, {self.error})"


async def get_answer(session: aiohttp.ClientSession, url: str) -> Answer:
    started = time.monotonic()
    try:
        async with session.get(url) as response:
            await response.read()
            return Answer(response.status, response.headers.get("Retry-After", ""), time.monotonic() - started)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return Answer(0, "", time.monotonic() - started, type(exc).__name__)


@pytest.mark.slow
def test_at_twice_capacity_new_requests_get_a_fast_503_and_the_established_continue(run_container, app_images) -> None:
    capacity = 28  # NGINX_WORKER_CONNECTIONS=136 on one nginx worker: 28 requests or websockets in flight
    container, port = start_on_host_network(
        run_container, app_images["full"], "NGINX_WORKER_PROCESSES=1", "NGINX_WORKER_CONNECTIONS=136", "WEB_CONCURRENCY=2"
    )
    base = f"http://127.0.0.1:{port}"

    async def scenario() -> Tuple[List[Answer], List[Answer], List[str]]:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            sockets = [await session.ws_connect(f"{base}/ws") for _ in range(8)]
            in_flight = [asyncio.ensure_future(get_answer(session, f"{base}/slow?s=6")) for _ in range(6)]
            await asyncio.sleep(1)  # let them reach the app: a pace, the outcome is checked below
            flood = await asyncio.gather(*(get_answer(session, f"{base}/slow?s=5") for _ in range(2 * capacity - 14)))
            echoes = []
            for index, ws in enumerate(sockets):
                await ws.send_str(f"still {index}")
                echoes.append(str((await ws.receive(timeout=10)).data))
                await ws.close()
            return list(await asyncio.gather(*in_flight)), flood, echoes

    established, flood, echoes = asyncio.run(scenario())
    assert echoes == [f"echo: still {i}" for i in range(8)]
    assert [a.status for a in established] == [200] * 6, established
    refused = [a for a in flood if a.status == 503]
    assert len(refused) >= len(flood) - (capacity - 14), flood
    assert all(a.status in (200, 503) for a in flood), flood
    # refused at once: an admitted request takes 5 s
    assert all(a.retry_after == "1" and a.seconds < 3 for a in refused), refused
    assert_quiet(container)


async def from_address(port: int, source: str, count: int, path: str) -> List[Answer]:
    """`count` requests at once from one loopback address."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True, local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        return list(await asyncio.gather(*(get_answer(session, f"http://127.0.0.1:{port}{path}") for _ in range(count))))


def test_nginx_client_connections_limits_one_address_not_the_others(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "NGINX_CLIENT_CONNECTIONS=2")

    async def both() -> Tuple[List[Answer], List[Answer]]:
        greedy = asyncio.ensure_future(from_address(port, "127.0.0.2", 6, "/slow?s=2"))
        await asyncio.sleep(0.5)  # a pace: the greedy client's requests are in flight (asserted through the results)
        other = await from_address(port, "127.0.0.3", 2, "/")
        return await greedy, other

    greedy, other = asyncio.run(both())
    # nginx has one status for all its connection limits: the overload's 503
    assert sorted(a.status for a in greedy) == [200, 200, 503, 503, 503, 503], greedy
    assert all(a.retry_after == "1" for a in greedy if a.status == 503)
    assert [a.status for a in other] == [200, 200]
    assert_quiet(container)


def test_nginx_client_rate_limits_one_address_not_the_others(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "NGINX_CLIENT_RATE=1", "NGINX_CLIENT_BURST=2")
    greedy = asyncio.run(from_address(port, "127.0.0.2", 10, "/"))
    statuses = sorted(a.status for a in greedy)
    assert statuses.count(200) in (3, 4) and statuses.count(429) == 10 - statuses.count(200), greedy  # 1 + burst 2
    assert [a.status for a in asyncio.run(from_address(port, "127.0.0.3", 2, "/"))] == [200, 200]
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


@pytest.mark.parametrize("path", ["/sse?gap=10", "/sse?gap=10&no-buffering", "/chunked?gap=10"])
def test_streamed_responses_arrive_as_written(run_container, app_images, path: str) -> None:
    container, port = start_on_host_network(run_container, app_images["full"])
    elapsed, piece = asyncio.run(first_piece_after(port, path))
    assert piece in (b"data: first\n\n", b"piece\n")
    # buffered, the first piece would wait for the second, 10 s later
    assert elapsed < 5, f"the first piece took {elapsed:.1f} s: nginx held it back"


# --- 4. workers that fit the container


def test_a_memory_limit_bounds_the_worker_count(run_container, app_images) -> None:
    # 2 CPUs would give 2 workers; 160 MiB holds one (64 MiB a worker over a 96 MiB base)
    container, port = start_on_host_network(run_container, app_images["full"], cpus="2")
    limited, _ = start_on_host_network(run_container, app_images["full"], cpus="2", memory="160m")
    assert len(gunicorn_workers(container)) == 2
    assert len(gunicorn_workers(limited)) == 1


def test_max_requests_restarts_a_worker_after_that_many_requests(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "WEB_CONCURRENCY=1", "MAX_REQUESTS=20")
    first = request(port, "/pid")[1]
    for _ in range(25):
        assert request(port, "/")[0] == 200
    # aiohttp's worker counts requests at each 1-second tick; every poll is one more request
    wait_until(lambda: request(port, "/pid")[1] != first, 20, "a fresh worker after MAX_REQUESTS", interval=0.2)
    assert_quiet(container)


# --- 5. quiet logs


def test_docker_stop_after_serving_logs_no_error_line(run_container, app_images) -> None:
    container, port = start_on_host_network(run_container, app_images["full"], "WEB_CONCURRENCY=2")
    for _ in range(20):
        assert request(port, "/")[0] == 200
    docker("stop", "-t", "30", container, timeout=60)
    assert "Worker exiting" in logs(container)
    assert_quiet(container)


def test_reloads_under_load_log_no_error_line(run_container, app_images) -> None:
    """The old workers of a reload used to close keep-alive connections nginx was reusing: nginx retried
    (no request failed) but logged "writev() failed (32: Broken pipe) while sending request to upstream"."""
    container, port = start_on_host_network(run_container, app_images["full"], "WEB_CONCURRENCY=2")
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(port, "/", connections=32, seconds=8)))
    client.start()
    try:
        for n in (1, 2):
            wait_until(lambda: len(outcomes) > 0 or "GET / " in logs(container), 20, "the load to be served")
            docker("exec", container, "aiohttp-nginx", "reload", timeout=60)
            wait_until(lambda n=n: logs(container).count("Worker exiting") >= 2 * n, 30, f"reload {n}'s old workers to exit")
    finally:
        client.join(30)
    assert outcomes and [o for o in outcomes if o.error or o.status != 200] == []
    assert_quiet(container)
