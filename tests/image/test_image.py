"""What a user of the aiohttp-nginx images relies on, checked on real containers (one run per tag in IMAGE_TAGS)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import time
import uuid
from typing import Set, Tuple

import pytest

from tests.image.helpers import (
    docker,
    exit_code,
    gunicorn_workers,
    inspect,
    listening_ports,
    logs,
    nginx_workers,
    run_seconds,
    stop_with_a_request_in_flight,
    tail,
)
from tests.support import get_json, get_text, request, wait_until, websocket_echo

# generous: the first test of a tag also waits for its image build
pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

HELLO = (200, "hello from aiohttp")


# --- the image as published


def test_the_default_app_says_hello(stack) -> None:
    assert get_text(stack.ready("default"), "/") == HELLO


def test_the_healthcheck_reports_healthy(stack) -> None:
    stack.ready("default")
    container = stack.container("default")

    def health() -> str:
        return inspect(container, "{{if .State.Health}}{{.State.Health.Status}}{{else}}no HEALTHCHECK{{end}}")

    status = wait_until(lambda: health() != "starting" and health(), 40, "the HEALTHCHECK to leave `starting`", interval=0.5)
    assert status == "healthy", f"{status}: " + inspect(container, "{{json .State.Health}}")


def test_the_only_tcp_listener_is_listen_port(stack) -> None:
    stack.ready("default")
    stack.ready("tuned")
    assert listening_ports(stack.container("default")) == [80]
    assert listening_ports(stack.container("tuned")) == [8080]


def test_aiohttp_nginx_config_prints_the_settings_as_json(stack) -> None:
    stack.ready("default")
    result = docker("exec", stack.container("default"), "aiohttp-nginx", "config")
    config = json.loads(result.stdout)
    assert config["listen_port"] == 80
    assert config["app_module"] == "app:app"
    assert config["app_dir"] == "/app"


# --- a user's app copied into /app


def test_prestart_exports_reach_the_app(stack) -> None:
    assert get_text(stack.ready("full"), "/env/GREETING") == (200, "from prestart")


def test_websocket_echo_through_nginx(stack) -> None:
    assert websocket_echo(stack.ready("full"), "hi") == "echo: hi"


def test_static_files_are_served_by_nginx_not_the_app(stack) -> None:
    port = stack.ready("full")
    status, body, headers = request(port, "/static/hello.txt")
    assert (status, body) == (200, b"static file served by nginx\n")
    assert headers["content-type"].startswith("text/plain")
    # the app has a catch-all for /static/: nginx must have answered before it
    assert request(port, "/static/missing.txt")[0] == 404


def test_the_app_sees_the_real_client_address(stack) -> None:
    port = stack.ready("full")
    container = stack.container("full")
    probe = uuid.uuid4().hex
    seen = get_json(port, f"/client?probe={probe}", headers={"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6"})
    # published on 127.0.0.1, the connection reaches the container from its network's gateway
    gateway = inspect(container, "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}")
    assert seen["remote"] == gateway, seen
    ipaddress.ip_address(seen["remote"])
    assert seen["scheme"] == "http"
    assert seen["host"] == f"127.0.0.1:{port}"
    # and it is the address nginx logged for that request
    logged = wait_until(lambda: [line for line in logs(container).splitlines() if probe in line], 10, "the access log line")
    assert logged[-1].split()[0] == seen["remote"], logged


def test_listen_port_8080_serves_on_8080(stack) -> None:
    assert get_text(stack.ready("tuned"), "/") == HELLO


def test_upload_over_the_limit_gets_413_and_under_it_arrives_intact(stack) -> None:
    port = stack.ready("tuned")  # NGINX_MAX_UPLOAD=1m
    big = os.urandom(2 * 1024 * 1024)
    assert request(port, "/upload", method="POST", body=big)[0] == 413
    small = os.urandom(900 * 1024)
    status, body, _ = request(port, "/upload", method="POST", body=small)
    assert status == 200, body
    assert json.loads(body) == {"size": len(small), "sha256": hashlib.sha256(small).hexdigest()}


def test_worker_counts_follow_nginx_worker_processes_and_web_concurrency(stack) -> None:
    stack.ready("tuned")  # NGINX_WORKER_PROCESSES=3, WEB_CONCURRENCY=3
    container = stack.container("tuned")
    counts = wait_until(
        lambda: (len(nginx_workers(container)), len(gunicorn_workers(container))) == (3, 3)
        and (len(nginx_workers(container)), len(gunicorn_workers(container))),
        20, "3 nginx workers and 3 gunicorn workers", interval=0.5,
    )
    assert counts == (3, 3)


def crash_a_worker(stack) -> Tuple[Set[int], Set[int]]:
    """GET /crash (os._exit in the worker) on the 2-worker container: the gunicorn workers before and after."""
    port = stack.ready("crash")  # WEB_CONCURRENCY=2
    container = stack.container("crash")
    before = set(wait_until(lambda: len(gunicorn_workers(container)) == 2 and gunicorn_workers(container), 20, "2 gunicorn workers"))
    assert get_text(port, "/") == HELLO  # nginx now holds a keep-alive connection to a worker
    assert request(port, "/crash")[0] == 502  # the crashing request itself
    after = set(wait_until(
        lambda: len(gunicorn_workers(container)) == 2 and set(gunicorn_workers(container)) - before and gunicorn_workers(container),
        20, "a replacement worker", interval=0.2,
    ))
    return before, after


def test_a_crashing_worker_is_replaced(stack) -> None:
    before, after = crash_a_worker(stack)
    port = stack.ready("crash")
    assert get_text(port, "/") == HELLO
    assert {int(get_text(port, "/pid")[1]) for _ in range(10)} <= after
    assert exit_code(stack.container("crash")) is None


def test_a_request_that_crashes_workers_leaves_a_full_set_of_fresh_workers(stack) -> None:
    # nginx retries a GET whose pooled keep-alive connection failed (that is what keeps reloads
    # loss-free), so a request that kills its worker may kill one more before it gets its 502
    before, after = crash_a_worker(stack)
    assert 1 <= len(after - before) <= 2, f"workers before {sorted(before)}, after {sorted(after)}"


def test_docker_stop_lets_in_flight_requests_finish_and_exits_0(stack) -> None:
    port = stack.ready("stop")
    container = stack.container("stop")
    results, stopped_in, output = stop_with_a_request_in_flight(container, port)
    assert results.get("slow") == (200, "slow done"), output
    assert inspect(container, "{{.State.ExitCode}}") == "0", output
    assert stopped_in < 10, f"docker stop took {stopped_in:.1f} s (killed after its 10 s?)\n{output}"


def test_runs_as_a_non_root_user(stack) -> None:
    assert get_text(stack.ready("nonroot"), "/") == HELLO  # --user 10001:10001, LISTEN_PORT=8080


def test_runs_with_a_read_only_root_and_tmpfs_tmp(stack) -> None:
    assert get_text(stack.ready("readonly"), "/") == HELLO  # --read-only --tmpfs /tmp


def test_runs_read_only_non_root_without_capabilities(stack) -> None:
    assert get_text(stack.ready("locked"), "/") == HELLO  # plus --user 10001:10001 --cap-drop ALL


def test_the_app_never_runs_as_root_by_default(stack) -> None:
    # the images ran gunicorn's workers, and so the app, as root: only nginx's workers dropped privileges
    port = stack.ready("full")
    ids = get_json(port, "/ids")
    assert (ids["uid"], ids["euid"], ids["gid"]) == (10000, 10000, 10000), ids
    assert 0 not in ids["groups"] and ids["home"] == "/home/aiohttp", ids  # not even root's supplementary group
    assert get_text(port, "/env/GREETING") == (200, "from prestart")  # prestart.sh (root) still reaches the app
    assert get_json(port, "/client")["remote"] not in ("", None)  # the worker read the proof before it dropped root


def test_app_user_root_opts_back_in(stack) -> None:
    assert get_json(stack.ready("approot"), "/ids")["euid"] == 0


def test_under_user_10001_the_app_runs_as_that_user(stack) -> None:
    # --user 10001:10001 --read-only --cap-drop ALL: APP_USER is ignored, nothing to switch from
    assert get_json(stack.ready("appnonroot"), "/ids")["euid"] == 10001


# --- containers that must stop


def wait_exit(container: str, timeout: float) -> int:
    """The exit status of a container expected to stop by itself within `timeout` seconds."""
    code = wait_until(lambda: exit_code(container) is not None and str(exit_code(container)), timeout, f"{container} to exit", interval=0.2)
    return int(code)


def test_an_app_that_fails_to_import_stops_the_container_loudly(app_images, run_container) -> None:
    container = run_container(app_images["broken"])
    code = wait_exit(container, 30)
    output = logs(container)
    assert code != 0, output
    # "at once", not after a crash loop: about 3 s on an idle 2-core machine; the bound leaves room for a loaded one
    assert run_seconds(container) < 30, f"ran {run_seconds(container):.1f} s\n{tail(output)}"
    last = output.strip().splitlines()[-1]
    assert last == (
        "aiohttp-nginx: the app failed to load: app.py:3: ModuleNotFoundError: No module named 'this_module_does_not_exist'"
    ), last
    assert output.count("Traceback (most recent call last):") == 1, output


def test_a_bad_variable_exits_2_with_one_line_naming_it(image, run_container) -> None:
    container = run_container(image, "-e", "WEB_CONCURRENCY=abc")
    code = wait_exit(container, 30)
    output = logs(container)
    assert code == 2, output
    assert "Traceback" not in output, output
    naming = [line for line in output.splitlines() if "WEB_CONCURRENCY" in line]
    assert len(naming) == 1, output
    assert "abc" in naming[0], output


def test_docker_stop_in_the_middle_of_a_slow_prestart_stops_it_gracefully(image, run_container, tmp_path) -> None:
    # the attack: the orchestrator stops a container whose prestart.sh waits for a database that never comes
    hook = tmp_path / "prestart.sh"
    hook.write_text("echo waiting for the database\nsleep 60\n")
    hook.chmod(0o644)
    container = run_container(image, "-v", f"{hook}:/app/prestart.sh:ro")
    wait_until(lambda: "waiting for the database" in logs(container), 30, "prestart.sh to run", interval=0.2)
    asked = time.monotonic()
    docker("stop", container, timeout=30)
    stopped_in = time.monotonic() - asked
    output = logs(container)
    # 143: it ended on the SIGTERM (docker's SIGKILL after 10 s would give 137)
    assert exit_code(container) == 143, output
    assert "aiohttp-nginx: stopped by SIGTERM while /app/prestart.sh ran" in output, output
    assert stopped_in < 10, tail(output)  # not held until the hook's `sleep 60` ends
