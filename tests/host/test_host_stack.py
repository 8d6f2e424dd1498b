"""What a user relies on, with the real nginx, gunicorn and supervisord on this machine."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from typing import Dict, List

from tests.support import get_json, get_text, request, wait_until, websocket_echo


def test_hello_answers_through_nginx(host_stack) -> None:
    stack = host_stack()
    assert get_text(stack.port, "/") == (200, "hello from aiohttp")


def test_prestart_exports_reach_the_app(host_stack) -> None:
    stack = host_stack()
    assert get_text(stack.port, "/env/GREETING") == (200, "from prestart")


def test_forwarded_allow_ips_networks_reach_the_app_but_not_gunicorn(host_stack) -> None:
    # gunicorn < 24 (the python3.8/3.9 images) refuses to start when it reads a network in FORWARDED_ALLOW_IPS itself
    stack = host_stack(env={"FORWARDED_ALLOW_IPS": "10.0.0.0/8"})
    assert get_text(stack.port, "/env/FORWARDED_ALLOW_IPS") == (200, "10.0.0.0/8")


def test_websocket_echo_through_nginx(host_stack) -> None:
    stack = host_stack()
    assert websocket_echo(stack.port, "hi") == "echo: hi"


def test_static_files_are_served_by_nginx_not_the_app(host_stack) -> None:
    stack = host_stack()
    status, body, headers = request(stack.port, "/static/hello.txt")
    assert (status, body) == (200, b"static file served by nginx\n")
    assert headers["content-type"].startswith("text/plain")
    # the app has a catch-all for /static/: nginx must have answered before it
    assert request(stack.port, "/static/missing.txt")[0] == 404


def test_upload_over_the_limit_gets_413_and_under_it_arrives_intact(host_stack) -> None:
    stack = host_stack(env={"NGINX_MAX_UPLOAD": "1m"})
    big = os.urandom(2 * 1024 * 1024)
    assert request(stack.port, "/upload", method="POST", body=big)[0] == 413
    small = os.urandom(900 * 1024)
    status, body, _ = request(stack.port, "/upload", method="POST", body=small)
    assert status == 200
    assert json.loads(body) == {"size": len(small), "sha256": hashlib.sha256(small).hexdigest()}


def test_the_app_sees_the_real_client_address_and_scheme(host_stack) -> None:
    stack = host_stack()
    # a second loopback address proves the value comes from the connection, not a constant
    seen = get_json(stack.port, "/client", source="127.0.0.2", headers={"X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "https"})
    assert seen["remote"] == "127.0.0.2"
    assert seen["scheme"] == "http"
    assert seen["host"] == f"127.0.0.1:{stack.port}"


def test_an_app_that_fails_to_import_stops_the_stack_loudly(host_stack) -> None:
    stack = host_stack("broken", ready=False)
    started = time.monotonic()
    code = stack.proc.wait(60)
    elapsed = time.monotonic() - started
    stack._reader.join(5)
    assert code != 0
    assert elapsed < 30, f"took {elapsed:.1f} s"  # seconds, not gunicorn's retries; loose for a loaded machine
    last = stack.output.strip().splitlines()[-1]
    assert last == (
        "aiohttp-nginx: the app failed to load: app.py:3: ModuleNotFoundError: No module named 'this_module_does_not_exist'"
    ), last


def test_a_crashing_worker_is_replaced_while_others_keep_serving(host_stack) -> None:
    stack = host_stack(env={"WEB_CONCURRENCY": "2"})
    failures: List[float] = []
    stop = threading.Event()
    clients = 4

    def load() -> None:
        for _ in range(3000):
            if stop.is_set():
                return
            try:
                ok = get_text(stack.port, "/")[0] == 200
            except OSError:
                ok = False
            if not ok:
                failures.append(time.monotonic())

    threads = [threading.Thread(target=load) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        pids_before = {get_text(stack.port, "/pid")[1] for _ in range(20)}
        crashed_at = time.monotonic()
        assert request(stack.port, "/crash")[0] == 502  # the crashing request itself
        wait_until(lambda: {get_text(stack.port, "/pid")[1] for _ in range(20)} - pids_before, 15, "a replacement worker")
        replaced_at = time.monotonic()
        # keep the load on a little longer: nothing may fail once the worker is replaced
        wait_until(lambda: time.monotonic() > replaced_at + 1, 5, "one more second of load")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    # only requests that were inside the dying worker may fail: at most one per client, at the crash
    assert len(failures) <= clients, failures
    assert all(crashed_at <= t <= replaced_at for t in failures)
    assert get_text(stack.port, "/") == (200, "hello from aiohttp")


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(host_stack, tmp_path) -> None:
    stack = host_stack()
    results: Dict[str, object] = {}
    mark = tmp_path / "in-flight"

    def slow() -> None:
        results["slow"] = get_text(stack.port, f"/slow?s=2&mark={mark}")

    thread = threading.Thread(target=slow)
    thread.start()
    wait_until(mark.exists, 10, "the slow request to reach the app")
    started = time.monotonic()
    code = stack.stop(signal.SIGTERM)
    thread.join(10)
    assert results.get("slow") == (200, "slow done"), stack.output
    assert code == 0, stack.output
    assert time.monotonic() - started < 8 + 2


def test_ctrl_c_stops_gracefully_too(host_stack) -> None:
    stack = host_stack()
    assert stack.stop(signal.SIGINT) == 0, stack.output
