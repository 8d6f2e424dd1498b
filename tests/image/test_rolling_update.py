"""Issue 14's rolling update with real parts: a balancer in front of replicas, one replaced under load.

The balancer is nginx from the image under test, configured as a plain balancer would be: round robin, a new
connection per request, no retry on the next replica (`proxy_next_upstream off`) and no passive health check
(`max_fails=0`), so it routes exactly as told and every failure a replica causes reaches the client. The replicas
run the full test app on a user-defined Docker network this test creates.
The sequence is what Kubernetes does: SIGTERM to one replica while the balancer keeps routing to it for 2 s (the
time endpoints take to propagate), then the replica is taken out of the balancer, and a new one added.

With SHUTDOWN_DELAY=0 nginx closes its listener at SIGTERM and the balancer's requests to it fail for those 2 s: the
test pins that the harness sees the race. With SHUTDOWN_DELAY=6 no request fails.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import aiohttp
import pytest

from tests.image.helpers import LABEL, SESSION, docker, exit_code, logs, processes, tail
from tests.support import wait_until

pytestmark = pytest.mark.image

ROUTING_AFTER_SIGTERM = 2.0  # seconds the balancer keeps sending requests to the stopping replica
CONNECTIONS = 16
LOAD_LIMIT_SECONDS = 90  # the load stops at the end of the scenario; this bounds it whatever happens
LOAD_LIMIT_REQUESTS = 200_000

# max_fails=0: nginx would otherwise stop using a replica for 10 s after one failure, hiding the race
BALANCER_CONF = """# a plain round-robin balancer: no retries, no passive health checks, a new upstream connection per request
worker_processes 1;
pid /tmp/balancer.pid;
error_log stderr warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    upstream replicas {{
{servers}
    }}
    server {{
        listen 8080;
        location / {{
            proxy_pass http://replicas;
            proxy_next_upstream off;
            # as a real balancer's: a connect to a replica that has already gone (its address still in the
            # ARP cache, so no error comes back) fails after 2 s, not nginx's 60 s, which held the old
            # balancer worker past the reload's 30 s wait
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


class Result:
    __slots__ = ("started", "seconds", "status", "error")

    def __init__(self, started: float, seconds: float, status: int, error: str) -> None:
        self.started, self.seconds, self.status, self.error = started, seconds, status, error

    @property
    def failed(self) -> bool:
        return bool(self.error) or self.status != 200


def run_load(port: int, stop: threading.Event, results: List[Result]) -> None:
    """CONNECTIONS clients, each request on a new connection, until `stop` (bounded in time and count)."""

    async def main() -> None:
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=CONNECTIONS, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def client() -> None:
                while not stop.is_set() and time.monotonic() < deadline and len(results) < LOAD_LIMIT_REQUESTS:
                    started = time.monotonic()
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/slow?s=0.01&mark=/tmp/busy") as response:
                            await response.read()
                            results.append(Result(started, time.monotonic() - started, response.status, ""))
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                        results.append(Result(started, time.monotonic() - started, 0, type(exc).__name__))

            await asyncio.gather(*(client() for _ in range(CONNECTIONS)))

    asyncio.run(main())


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


@pytest.fixture
def network() -> Iterator[str]:
    name = f"ainbtest-{SESSION}-{os.urandom(3).hex()}"
    docker("network", "create", "--label", f"{LABEL}={SESSION}", name, timeout=60)
    yield name
    docker("network", "rm", name, timeout=60, check=False)


def published_port(container: str, port: int) -> int:
    return int(docker("port", container, str(port), timeout=30).stdout.split()[0].rsplit(":", 1)[1])


def in_container_file(container: str, path: str) -> bool:
    return docker("exec", container, "test", "-f", path, check=False, timeout=30).returncode == 0


def nginx_worker_pids(container: str) -> Tuple[List[int], bool]:
    """The balancer's worker pids, and whether an old one is still finishing after a reload."""
    procs = processes(container)
    workers = [pid for pid, _, cmd in procs if cmd.startswith("nginx: worker process")]
    return workers, any("is shutting down" in cmd for _, _, cmd in procs)


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.timeout(300)
@pytest.mark.parametrize("delay", [0, 6], ids=["SHUTDOWN_DELAY=0", "SHUTDOWN_DELAY=6"])
def test_rolling_update_behind_a_balancer_fails_no_request(
    network: str, run_container, image: str, app_images, tmp_path: Path, delay: int
) -> None:
    # `network` first: its teardown (network rm) then runs after run_container's (the containers' removal)
    env = ["-e", f"SHUTDOWN_DELAY={delay}", "-e", "GRACEFUL_TIMEOUT=4", "-e", "STOP_TIMEOUT=12", "-e", "ACCESS_LOG=off"]

    def replica() -> str:
        name = run_container(app_images["full"], "--network", network, "-p", "127.0.0.1::80", *env)
        port = published_port(name, 80)
        wait_until(lambda: _status(port, "/_aiohttp-nginx/readyz") == 200 or exit_code(name) is not None, 60, f"{name} to be ready")
        assert exit_code(name) is None, tail(logs(name))
        return name

    conf_dir = tmp_path / "balancer"
    conf_dir.mkdir()
    conf_dir.chmod(0o755)

    def route_to(*replicas: str) -> None:
        conf = conf_dir / "nginx.conf"
        conf.write_text(BALANCER_CONF.format(servers="\n".join(f"        server {r}:80 max_fails=0;" for r in replicas)))
        conf.chmod(0o644)

    def reload_balancer(balancer: str) -> None:
        before, _ = nginx_worker_pids(balancer)
        docker("kill", "-s", "HUP", balancer, timeout=30)

        def applied() -> bool:
            workers, old_finishing = nginx_worker_pids(balancer)
            return bool(workers) and not set(workers) & set(before) and not old_finishing

        wait_until(applied, 30, "the balancer to run its new configuration", interval=0.1)

    old, kept = replica(), replica()
    route_to(old, kept)
    balancer = run_container(
        image,
        "--network",
        network,
        "-p",
        "127.0.0.1::8080",
        "-v",
        f"{conf_dir}:/balancer:ro",
        "--entrypoint",
        "nginx",
        args=["-c", "/balancer/nginx.conf"],
    )
    port = published_port(balancer, 8080)
    wait_until(lambda: _status(port, "/") == 200 or exit_code(balancer) is not None, 30, "the balancer to answer")
    assert exit_code(balancer) is None, tail(logs(balancer))

    results: List[Result] = []
    stop = threading.Event()
    load = threading.Thread(target=run_load, args=(port, stop, results))
    load.start()
    try:
        wait_until(lambda: in_container_file(old, "/tmp/busy") and in_container_file(kept, "/tmp/busy"), 30, "load on both replicas")
        signalled = time.monotonic()
        docker("kill", "-s", "TERM", old, timeout=30)
        # endpoints propagate: the balancer goes on sending requests to the stopping replica
        wait_until(lambda: time.monotonic() - signalled >= ROUTING_AFTER_SIGTERM, 10, "the propagation delay", interval=0.05)
        route_to(kept)
        reload_balancer(balancer)
        new = replica()
        route_to(kept, new)
        reload_balancer(balancer)
        wait_until(lambda: in_container_file(new, "/tmp/busy"), 30, "load on the new replica")
        swapped = time.monotonic()
    finally:
        stop.set()
        load.join(60)
    docker("wait", old, timeout=60)
    assert exit_code(old) == 0, tail(logs(old))

    during = [r for r in results if signalled - 1 <= r.started <= swapped]
    failures = [r for r in results if r.failed]
    p99 = percentile([r.seconds for r in during], 0.99) * 1000
    kinds = sorted({r.error or str(r.status) for r in failures})
    print(
        f"\nrolling update, SHUTDOWN_DELAY={delay}: {len(results)} requests, {len(failures)} failed {kinds}; "
        f"during the swap ({swapped - signalled:.1f} s): {len(during)} requests, "
        f"{sum(r.failed for r in during)} failed, p99 {p99:.0f} ms"
    )
    assert len(during) > 100, "the load ran through the swap"
    if delay:
        assert failures == [], f"{len(failures)} of {len(results)} requests failed: {kinds}\n{tail(logs(old))}"
    else:
        # the race the delay exists for: the stopping replica refuses what the balancer still sends it
        assert failures, "without SHUTDOWN_DELAY the balancer's requests to the stopping replica fail"


def _status(port: int, path: str) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()
