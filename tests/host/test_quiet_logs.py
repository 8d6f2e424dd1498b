"""Issue 13 item 5: a normal stop or reload, even under load, logs no error line (no "[Errno 9]")."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

from tests.support import Outcome, error_lines, load, wait_until


def test_stop_under_load_logs_no_error_line(host_stack) -> None:
    stack = host_stack(env={"WEB_CONCURRENCY": "2"})
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(stack.port, "/slow?s=0.2", connections=32, seconds=3)))
    client.start()
    wait_until(lambda: len(outcomes) > 0 or "GET /slow" in stack.output, 20, "the load to be served")
    assert stack.stop() == 0, stack.output
    client.join(30)
    assert "Worker exiting" in stack.output  # the workers did exit, where the error used to be logged
    assert error_lines(stack.output) == [], stack.output


def test_reloads_under_load_log_no_error_line(host_stack, open_tmp: Path) -> None:
    """Three reloads under load, not one error line from the workers or from nginx. The old workers
    closed their idle keep-alive connections while nginx may be reusing them ("writev() failed
    (32: Broken pipe) while sending request to upstream"): nginx retried, nothing failed, yet an
    error line for a normal reload."""
    runtime = open_tmp / "runtime"
    stack = host_stack(env={"RUNTIME_DIR": str(runtime), "WEB_CONCURRENCY": "2"})
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(stack.port, "/", connections=32, seconds=8)))
    client.start()
    try:
        for n in range(1, 4):
            wait_until(lambda: len(outcomes) > 0 or "GET / " in stack.output, 20, "the load to be served")
            result = subprocess.run(
                [sys.executable, "-m", "aiohttp_nginx_base", "reload"],
                env={**os.environ, "RUNTIME_DIR": str(runtime)}, stderr=subprocess.PIPE, text=True, timeout=30,
            )
            assert result.returncode == 0, result.stderr
            wait_until(lambda n=n: stack.output.count("Worker exiting") >= 2 * n, 30, f"reload {n}'s old workers to exit")
    finally:
        client.join(30)
    assert [o for o in outcomes if o.error or o.status != 200] == []
    assert error_lines(stack.output) == [], stack.output


def test_max_requests_restarts_under_load_log_no_error_line(host_stack) -> None:
    """MAX_REQUESTS replaces workers while nginx reuses their keep-alive connections: the same race as a reload."""
    stack = host_stack(env={"WEB_CONCURRENCY": "2", "MAX_REQUESTS": "500"})
    outcomes: List[Outcome] = []
    client = threading.Thread(target=lambda: outcomes.extend(load(stack.port, "/", connections=32, seconds=6)))
    client.start()
    try:
        wait_until(lambda: stack.output.count("Max requests, shutting down") >= 2, 30, "two workers to reach MAX_REQUESTS")
    finally:
        client.join(30)
    assert [o for o in outcomes if o.error or o.status != 200] == []
    assert error_lines(stack.output) == [], stack.output
